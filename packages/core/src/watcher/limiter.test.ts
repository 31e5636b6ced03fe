import { describe, expect, it } from 'vitest';
import { Limiter } from './limiter.js';

describe('Limiter', () => {
  it('keeps at most `limit` calls in flight, runs the rest in order, and passes results and errors through', async () => {
    const limiter = new Limiter(2);
    let inFlight = 0;
    let peak = 0;
    const order: number[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 7 }, (_, i) =>
        limiter.run(async () => {
          inFlight++;
          peak = Math.max(peak, inFlight);
          order.push(i);
          await new Promise((resolve) => setTimeout(resolve, 2));
          inFlight--;
          if (i === 3) throw new Error('three');
          return i * 10;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(results[3]).toMatchObject({ status: 'rejected', reason: new Error('three') });
    expect(results[6]).toEqual({ status: 'fulfilled', value: 60 });
    expect(limiter.active).toBe(0);
  });
});
