import { describe, expect, it } from 'vitest';
import { Batcher, type BatcherClock } from './batcher.js';

/** A clock whose timers fire only when the test advances it. */
class ManualClock implements BatcherClock {
  now = 0;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();
  #nextId = 1;
  readonly requested: number[] = [];

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.requested.push(ms);
    this.#timers.set(id, { at: this.now + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    this.now += ms;
    for (const [id, timer] of [...this.#timers]) {
      if (timer.at > this.now) continue;
      this.#timers.delete(id);
      timer.callback();
    }
  }
}

/** A flush the test finishes by hand, recording each batch and how many ran at once. */
function controlledFlush() {
  const batches: number[][] = [];
  const finishers: (() => void)[] = [];
  let running = 0;
  let maxRunning = 0;
  const flush = (batch: number[]) =>
    new Promise<void>((resolve) => {
      batches.push(batch);
      running++;
      maxRunning = Math.max(maxRunning, running);
      finishers.push(() => {
        running--;
        resolve();
      });
    });
  return {
    flush,
    batches,
    get maxRunning() {
      return maxRunning;
    },
    /** Finishes the oldest running flush and lets its continuations run. */
    async finishOne() {
      finishers.shift()?.();
      await settle();
    },
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Batcher', () => {
  it('flushes a lone item at once when idle, without waiting for a timer', async () => {
    const clock = new ManualClock();
    const flushes = controlledFlush();
    const batcher = new Batcher<number>(flushes.flush, { maxBatch: 100, maxDelayMs: 50, clock, onError: () => {} });
    batcher.add(1);
    await settle();
    expect(flushes.batches).toEqual([[1]]);
    expect(clock.requested).toEqual([]);
  });

  it('puts the items of one turn of the event loop in one batch', async () => {
    const clock = new ManualClock();
    const flushes = controlledFlush();
    const batcher = new Batcher<number>(flushes.flush, { maxBatch: 100, maxDelayMs: 50, clock, onError: () => {} });
    for (let i = 0; i < 5; i++) batcher.add(i);
    await settle();
    expect(flushes.batches).toEqual([[0, 1, 2, 3, 4]]);
  });

  it('queues behind a running flush and takes the whole queue as the next batch when it ends (group commit)', async () => {
    const clock = new ManualClock();
    const flushes = controlledFlush();
    const batcher = new Batcher<number>(flushes.flush, { maxBatch: 100, maxDelayMs: 50, clock, onError: () => {} });
    batcher.add(0);
    await settle();
    for (let i = 1; i <= 4; i++) {
      batcher.add(i);
      await settle();
    }
    expect(flushes.batches).toEqual([[0]]);
    expect(clock.pendingTimers).toBe(0);
    await flushes.finishOne();
    expect(flushes.batches).toEqual([[0], [1, 2, 3, 4]]);
    await flushes.finishOne();
    expect(batcher.pending).toBe(0);
    expect(flushes.maxRunning).toBe(1);
  });

  it('splits a long queue into batches of maxBatch, in order, one flush at a time', async () => {
    const clock = new ManualClock();
    const flushes = controlledFlush();
    const batcher = new Batcher<number>(flushes.flush, { maxBatch: 3, maxDelayMs: 50, clock, onError: () => {} });
    for (let i = 0; i < 8; i++) batcher.add(i);
    const drained = batcher.drain();
    for (let i = 0; i < 3; i++) await flushes.finishOne();
    await drained;
    expect(flushes.batches).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 7],
    ]);
    expect(flushes.maxRunning).toBe(1);
  });

  it('with a free slot beside a running flush, waits maxDelayMs for company before taking it', async () => {
    const clock = new ManualClock();
    const flushes = controlledFlush();
    const batcher = new Batcher<number>(flushes.flush, {
      maxBatch: 100,
      maxDelayMs: 5,
      concurrency: 2,
      clock,
      onError: () => {},
    });
    batcher.add(0);
    await settle();
    batcher.add(1);
    batcher.add(2);
    await settle();
    expect(flushes.batches).toEqual([[0]]);
    expect(clock.requested).toEqual([5]);
    clock.advance(4);
    expect(flushes.batches).toEqual([[0]]);
    clock.advance(1);
    expect(flushes.batches).toEqual([[0], [1, 2]]);
    expect(flushes.maxRunning).toBe(2);
  });

  it('reports a failed flush and keeps going', async () => {
    const failed: number[][] = [];
    const done: number[][] = [];
    const batcher = new Batcher<number>(
      async (batch) => {
        if (batch.includes(0)) throw new Error('db down');
        done.push(batch);
      },
      { maxBatch: 2, maxDelayMs: 1, onError: (_error, batch) => failed.push(batch) },
    );
    for (let i = 0; i < 4; i++) batcher.add(i);
    await batcher.drain();
    expect(failed).toEqual([[0, 1]]);
    expect(done).toEqual([[2, 3]]);
  });

  it('drops nothing on close: everything queued is flushed first', async () => {
    const flushed: number[] = [];
    const batcher = new Batcher<number>(
      async (batch) => {
        flushed.push(...batch);
      },
      { maxBatch: 10, maxDelayMs: 1, onError: () => {} },
    );
    for (let i = 0; i < 25; i++) batcher.add(i);
    await batcher.close();
    batcher.add(99);
    expect(flushed).toEqual(Array.from({ length: 25 }, (_, i) => i));
  });
});
