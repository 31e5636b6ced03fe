import { describe, expect, it } from 'vitest';
import { NotFoundError, ProviderUnavailableError, RateLimitedError } from '../../provider/errors.js';
import { FakeProvider } from '../../testing/fake-provider.js';
import { backoffMs, retryTransient, watchForError } from './waits.js';

const opts = { provider: 'fake' };

describe('transient provider errors in waits', () => {
  it('backoffMs doubles from the base, honours Retry-After, caps at 30 s', () => {
    const unavailable = new ProviderUnavailableError('502', { ...opts, status: 502 });
    expect([0, 1, 2].map((n) => backoffMs(unavailable, n, 100))).toEqual([100, 200, 400]);
    expect(backoffMs(unavailable, 20, 100)).toBe(30_000);
    expect(backoffMs(new RateLimitedError('429', { ...opts, retryAfterMs: 900 }), 0, 100)).toBe(900);
  });

  it('retryTransient asks again after 5xx, throws a permanent error at once, gives up at the deadline', async () => {
    const signal = new AbortController().signal;
    let calls = 0;
    const value = await retryTransient(
      async () => {
        calls++;
        if (calls < 3) throw new ProviderUnavailableError('503', opts);
        return 'ok';
      },
      { deadlineAt: Date.now() + 5_000, baseMs: 10, signal },
    );
    expect([value, calls]).toEqual(['ok', 3]);
    await expect(
      retryTransient(
        async () => {
          throw new NotFoundError('gone', opts);
        },
        { deadlineAt: Date.now() + 5_000, baseMs: 10, signal },
      ),
    ).rejects.toBeInstanceOf(NotFoundError);
    const started = Date.now();
    await expect(
      retryTransient(
        async () => {
          throw new ProviderUnavailableError('503', opts);
        },
        { deadlineAt: Date.now() + 200, baseMs: 20, signal },
      ),
    ).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('watchForError keeps watching after a 502 and still sees the ERROR', async () => {
    const provider = new FakeProvider({ buildMs: 30 });
    const server = await provider.createServer({
      name: 'w-fail-build',
      idempotencyKey: 'k1',
      flavor: 'small',
      image: 'corral-guest',
      bootstrap: { userData: 'x', configDrive: true },
    });
    provider.failNext('get', new ProviderUnavailableError('502', { ...opts, status: 502 }));
    const controller = new AbortController();
    const failed = await watchForError(provider, server.id, 10, controller.signal);
    controller.abort();
    expect(failed.status).toBe('ERROR');
    expect(failed.fault?.message).toMatch(/No valid host/);
  });
});
