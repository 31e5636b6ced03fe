import { describe, expect, it } from 'vitest';
import { NotFoundError, ProviderUnavailableError, RateLimitedError } from '../../provider/errors.js';
import type { Provider, Server } from '../../provider/types.js';
import { FakeProvider } from '../../testing/fake-provider.js';
import { StepError } from './flow.js';
import { awaitServerGone, backoffMs, retryTransient, watchForError } from './waits.js';

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

  it('retryTransient settles at once with the abort reason when the lease is lost during a back-off', async () => {
    const controller = new AbortController();
    const lost = new Error('lease lost');
    const started = Date.now();
    const retrying = retryTransient(
      async () => {
        throw new ProviderUnavailableError('503', opts);
      },
      { deadlineAt: Date.now() + 60_000, baseMs: 10_000, signal: controller.signal },
    );
    setTimeout(() => controller.abort(lost), 50);
    await expect(retrying).rejects.toBe(lost);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

/** A provider that answers every look at the server with `answer` (no watch of its own unless given). */
function stubProvider(answer: () => Promise<Server>, watch?: Provider['watchServer']): Provider & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    getServer: async () => {
      calls.push(Date.now());
      return answer();
    },
    ...(watch === undefined ? {} : { watchServer: watch }),
  } as unknown as Provider & { calls: number[] };
}

const unavailable = async (): Promise<Server> => {
  throw new ProviderUnavailableError('503', opts);
};

describe('awaitServerGone pauses settle', () => {
  it('a lease lost during a back-off after a 503 ends the wait promptly with the abort reason', async () => {
    const provider = stubProvider(unavailable);
    const controller = new AbortController();
    const lost = new Error('lease lost');
    const started = Date.now();
    const waiting = awaitServerGone(provider, 's1', {
      deadlineAt: Date.now() + 60_000,
      pollMs: 10_000,
      signal: controller.signal,
      errorStatus: 'DELETE_ERROR',
    });
    setTimeout(() => controller.abort(lost), 50);
    await expect(waiting).rejects.toBe(lost);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('the delete deadline reached during a back-off after a 503 is a timeout, at the deadline', async () => {
    const provider = stubProvider(unavailable);
    const started = Date.now();
    const error = await awaitServerGone(provider, 's1', {
      deadlineAt: Date.now() + 150,
      pollMs: 10_000,
      signal: new AbortController().signal,
      errorStatus: 'DELETE_ERROR',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).options.taskStatus).toBe('DELETE_ERROR');
    expect((error as StepError).message).toMatch(/timed out .* s1 .*503/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('the delete deadline reached while pausing between looks (a watch that ended, server still there) is a timeout', async () => {
    // The watch ends without DELETED (as a provider's does on a 404); the server is still there when asked.
    const provider = stubProvider(
      async () => ({ id: 's1', status: 'ACTIVE' }) as Server,
      async function* () {},
    );
    const started = Date.now();
    const error = await awaitServerGone(provider, 's1', {
      deadlineAt: Date.now() + 150,
      pollMs: 10_000,
      signal: new AbortController().signal,
      errorStatus: 'DELETE_ERROR',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).options.taskStatus).toBe('DELETE_ERROR');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('the back-off grows with each 503 in a row', async () => {
    const provider = stubProvider(unavailable);
    await expect(
      awaitServerGone(provider, 's1', {
        deadlineAt: Date.now() + 400,
        pollMs: 20,
        signal: new AbortController().signal,
        errorStatus: 'DELETE_ERROR',
      }),
    ).rejects.toBeInstanceOf(StepError);
    // Pauses of 20, 40, 80 ms before the 4th look (a fixed pause would make that 60 ms); at most 5 looks in 400 ms.
    expect(provider.calls.length).toBeGreaterThanOrEqual(4);
    expect(provider.calls.length).toBeLessThanOrEqual(5);
    expect(provider.calls[3]! - provider.calls[0]!).toBeGreaterThanOrEqual(135);
  });
});
