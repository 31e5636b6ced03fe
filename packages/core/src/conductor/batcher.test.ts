import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher.js';

describe('Batcher', () => {
  it('flushes full batches at once and the rest after the delay, in order, one flush at a time', async () => {
    const batches: number[][] = [];
    let running = 0;
    let maxRunning = 0;
    const batcher = new Batcher<number>(
      async (batch) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        batches.push(batch);
        running--;
      },
      { maxBatch: 3, maxDelayMs: 5, onError: () => {} },
    );
    for (let i = 0; i < 8; i++) batcher.add(i);
    await batcher.drain();
    expect(batches.flat()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(batches.every((b) => b.length <= 3)).toBe(true);
    expect(maxRunning).toBe(1);
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
});
