/**
 * Collects items and hands them to `flush` in batches: at once when `maxBatch` items wait, otherwise after
 * `maxDelayMs`. One flush runs at a time, so the store sees ordered, non-overlapping transactions; a batch
 * per transaction is what lets one conductor ingest tens of thousands of heartbeats a second.
 */
export class Batcher<T> {
  #queue: T[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(
    private readonly flush: (batch: T[]) => Promise<void>,
    private readonly options: { maxBatch: number; maxDelayMs: number; onError: (error: unknown, batch: T[]) => void },
  ) {}

  get pending(): number {
    return this.#queue.length;
  }

  add(item: T): void {
    if (this.#closed) return;
    this.#queue.push(item);
    if (this.#queue.length >= this.options.maxBatch) this.#kick();
    else this.#timer ??= setTimeout(() => this.#kick(), this.options.maxDelayMs);
  }

  /** Flushes everything queued, waiting for flushes in progress. */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#flushing !== undefined) {
      if (this.#flushing === undefined) this.#kick();
      await this.#flushing;
    }
  }

  async close(): Promise<void> {
    await this.drain();
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #kick(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#flushing !== undefined || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, this.options.maxBatch);
    this.#flushing = this.flush(batch)
      .catch((error: unknown) => this.options.onError(error, batch))
      .finally(() => {
        this.#flushing = undefined;
        if (this.#queue.length >= this.options.maxBatch) this.#kick();
        else if (this.#queue.length > 0) this.#timer ??= setTimeout(() => this.#kick(), this.options.maxDelayMs);
      });
  }
}
