import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from './memory.js';
import { isNewerReport } from './types.js';

describe('isNewerReport', () => {
  const none = { lastBootId: null, lastSeq: null, previousBootId: null };
  const at = (lastBootId: string, lastSeq: number, previousBootId: string | null = null) => ({
    lastBootId,
    lastSeq,
    previousBootId,
  });

  it.each([
    ['first report', { bootId: 'a', seq: 0 }, none, true],
    ['higher sequence, same boot', { bootId: 'a', seq: 2 }, at('a', 1), true],
    ['same sequence', { bootId: 'a', seq: 1 }, at('a', 1), false],
    ['lower sequence', { bootId: 'a', seq: 0 }, at('a', 1), false],
    ['a new boot, whatever its id sorts like', { bootId: '0', seq: 0 }, at('z', 99), true],
    ['the boot that was replaced', { bootId: 'a', seq: 1000 }, at('b', 1, 'a'), false],
  ] as const)('%s → %s', (_, report, last, expected) => {
    expect(isNewerReport(report, last)).toBe(expected);
  });

  it('keeps the highest sequence of a boot whatever order the reports arrive in', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(1000), { minLength: 1, maxLength: 30 }), async (seqs) => {
        const store = createMemoryStore();
        await store.createInstance({
          id: 'i',
          name: 'i',
          projectId: 'p',
          provider: 'fake',
          flavor: 'f',
          image: 'img',
          datastore: { type: 'redis', version: '7' },
        });
        const results = await store.applyServiceStatuses(
          seqs.map((seq) => ({ instanceId: 'i', bootId: 'boot', seq, status: seq % 2 ? 'RUNNING' : 'HEALTHY' })),
        );
        const max = Math.max(...seqs);
        const stored = await store.getInstance('i');
        expect(stored.lastSeq).toBe(max);
        expect(stored.serviceStatus).toBe(max % 2 ? 'RUNNING' : 'HEALTHY');
        // Applied exactly when the report beat every earlier one.
        let best = -1;
        for (const [index, seq] of seqs.entries()) {
          expect(results[index]?.applied).toBe(seq > best);
          best = Math.max(best, seq);
        }
      }),
      { numRuns: 200 },
    );
  });
});
