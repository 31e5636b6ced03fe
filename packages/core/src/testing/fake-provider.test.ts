import { describe, expect, it } from 'vitest';
import { NotFoundError, ProviderUnavailableError, QuotaExceededError, RateLimitedError } from '../provider/errors.js';
import type { CreateServerRequest } from '../provider/types.js';
import { FakeProvider } from './fake-provider.js';
import { describeProviderContract } from './provider-contract.js';

describeProviderContract('fake', async () => {
  const provider = new FakeProvider({ buildMs: 30 });
  return {
    provider,
    flavor: 'small',
    image: 'corral-guest',
    readBootstrap: async (server) => provider.bootstrapOf(server.id),
    failingRequest: () => ({
      name: 'x-fail-build',
      idempotencyKey: 'x',
      flavor: 'small',
      image: 'corral-guest',
      bootstrap: { userData: '#cloud-config\n' },
    }),
    leaks: async (server) => provider.resources().filter((r) => r.includes(server.id)),
    pollMs: 10,
    settleTimeoutMs: 5_000,
  };
});

const req = (name: string, key = name): CreateServerRequest => ({
  name,
  idempotencyKey: key,
  flavor: 'small',
  image: 'corral-guest',
  bootstrap: { userData: 'secret' },
});

describe('FakeProvider failure injection', () => {
  it('moves BUILD → ACTIVE on its clock, and ERROR with a fault for fail-build', async () => {
    let now = 0;
    const fake = new FakeProvider({ buildMs: 100, clock: () => now });
    const ok = await fake.createServer(req('web-1'));
    const bad = await fake.createServer(req('web-fail-build'));
    expect([ok.status, bad.status]).toEqual(['BUILD', 'BUILD']);
    now = 100;
    expect((await fake.getServer(ok.id)).status).toBe('ACTIVE');
    expect(await fake.getServer(bad.id)).toMatchObject({ status: 'ERROR', fault: { code: 500 } });
  });

  it('fail-create makes the server and throws; a retry with the key finds it', async () => {
    const fake = new FakeProvider();
    await expect(fake.createServer(req('db-fail-create', 'k1'))).rejects.toBeInstanceOf(ProviderUnavailableError);
    const again = await fake.createServer(req('db-fail-create', 'k1'));
    expect((await fake.listServers()).map((s) => s.id)).toEqual([again.id]);
  });

  it('quota, rate limit, delete and reboot failures, and one-off injections', async () => {
    let now = 0;
    const fake = new FakeProvider({ buildMs: 10, clock: () => now });
    await expect(fake.createServer(req('a-fail-quota'))).rejects.toBeInstanceOf(QuotaExceededError);
    const limited = await fake.createServer(req('b-rate-limit')).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(50);
    const b = await fake.createServer(req('b-rate-limit'));
    const c = await fake.createServer(req('c-fail-delete'));
    await expect(fake.deleteServer(c.id)).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect((await fake.getServer(c.id)).id).toBe(c.id);
    const d = await fake.createServer(req('d-fail-reboot'));
    now = 10;
    await fake.rebootServer(d.id);
    expect((await fake.getServer(d.id)).status).toBe('REBOOT');
    now = 20;
    expect(await fake.getServer(d.id)).toMatchObject({ status: 'ERROR', fault: { message: /reboot failed/ } });
    fake.failNext('get', new NotFoundError('injected', { provider: 'fake' }));
    await expect(fake.getServer(b.id)).rejects.toThrow('injected');
    expect((await fake.getServer(b.id)).status).toBe('ACTIVE');
    expect(fake.calls.filter((call) => call.operation === 'get').length).toBeGreaterThan(3);
  });

  it('stuck servers stay in BUILD; watchServer follows changes until deleted', async () => {
    const fake = new FakeProvider({ buildMs: 20 });
    const stuck = await fake.createServer(req('e-stuck'));
    const live = await fake.createServer(req('f'));
    const seen: string[] = [];
    const controller = new AbortController();
    setTimeout(() => void fake.deleteServer(live.id), 80);
    for await (const server of fake.watchServer(live.id, { intervalMs: 5, signal: controller.signal })) {
      seen.push(server.status);
    }
    expect(seen).toEqual(['BUILD', 'ACTIVE', 'DELETED']);
    expect((await fake.getServer(stuck.id)).status).toBe('BUILD');
  });
});
