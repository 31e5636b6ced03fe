/** The timer functions the batcher uses; tests pass a fake clock. */
export interface BatcherClock {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: BatcherClock = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Collects items and hands them to `flush` in batches, as a database's group commit does: when no flush is
 * running, what arrived in this turn of the event loop is flushed at once (a lone heartbeat never waits for
 * a timer); while flushes run, items queue, and each finished flush takes what queued behind it, so batches
 * grow with the load and shrink when it goes. `maxBatch` items are flushed at once whatever is running.
 * At most `concurrency` flushes run at a time (default 1); with more than one allowed, an item that finds
 * some running and a slot free waits up to `maxDelayMs` for company before taking the slot.
 * A batch per transaction is what lets one conductor ingest a hundred thousand heartbeats a second; on
 * PostgreSQL a few transactions in flight hide the round trips (the store's row locks and (boot id, seq)
 * check keep concurrent batches correct).
 */
export class Batcher<T> {
  #queue: T[] = [];
  #timer: unknown;
  #kickQueued = false;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #clock: BatcherClock;
  #closed = false;

  constructor(
    private readonly flush: (batch: T[]) => Promise<void>,
    private readonly options: {
      maxBatch: number;
      maxDelayMs: number;
      concurrency?: number;
      onError: (error: unknown, batch: T[]) => void;
      clock?: BatcherClock;
    },
  ) {
    this.#clock = options.clock ?? realClock;
  }

  get pending(): number {
    return this.#queue.length;
  }

  add(item: T): void {
    if (this.#closed) return;
    this.#queue.push(item);
    if (this.#queue.length >= this.options.maxBatch) this.#kick();
    else if (this.#inFlight.size === 0) this.#kickSoon();
    else if (this.#inFlight.size < this.#concurrency)
      this.#timer ??= this.#clock.setTimeout(() => this.#kick(), this.options.maxDelayMs);
    // Every slot busy: the next flush to finish takes the queue.
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
    this.#clearTimer();
  }

  get #concurrency(): number {
    return this.options.concurrency ?? 1;
  }

  /** Flushes after the current task, so items that arrive together (one socket read) share a batch. */
  #kickSoon(): void {
    if (this.#kickQueued) return;
    this.#kickQueued = true;
    queueMicrotask(() => {
      this.#kickQueued = false;
      this.#kick();
    });
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #kick(): void {
    this.#clearTimer();
    while (this.#inFlight.size < this.#concurrency && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.options.maxBatch);
      const run: Promise<void> = this.flush(batch)
        .catch((error: unknown) => this.options.onError(error, batch))
        .finally(() => {
          this.#inFlight.delete(run);
          if (this.#queue.length > 0) this.#kick();
        });
      this.#inFlight.add(run);
    }
  }
}
