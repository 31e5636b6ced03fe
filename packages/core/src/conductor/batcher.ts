/**
 * Collects items and hands them to `flush` in batches: at once when `maxBatch` items wait, otherwise after
 * `maxDelayMs`. At most `concurrency` flushes run at a time (default 1). A batch per transaction is what
 * lets one conductor ingest tens of thousands of heartbeats a second; on PostgreSQL a few transactions in
 * flight hide the round trips (the store's row locks and (boot id, seq) check keep concurrent batches correct).
 */
export class Batcher<T> {
  #queue: T[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(
    private readonly flush: (batch: T[]) => Promise<void>,
    private readonly options: {
      maxBatch: number;
      maxDelayMs: number;
      concurrency?: number;
      onError: (error: unknown, batch: T[]) => void;
    },
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
    while (this.#queue.length > 0 || this.#inFlight.size > 0) {
      this.#kick();
      await Promise.race(this.#inFlight);
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
    const concurrency = this.options.concurrency ?? 1;
    while (this.#inFlight.size < concurrency && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.options.maxBatch);
      const run: Promise<void> = this.flush(batch)
        .catch((error: unknown) => this.options.onError(error, batch))
        .finally(() => {
          this.#inFlight.delete(run);
          if (this.#queue.length >= this.options.maxBatch) this.#kick();
          else if (this.#queue.length > 0) this.#timer ??= setTimeout(() => this.#kick(), this.options.maxDelayMs);
        });
      this.#inFlight.add(run);
    }
  }
}
