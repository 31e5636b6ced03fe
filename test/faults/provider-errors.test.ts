/**
 * Provider errors during create, then delete: a 5xx (ProviderUnavailableError), a 429 with Retry-After, a
 * timeout, 5xx and 429 answers while the task manager polls the build and the delete, an unknown outcome (503
 * after the server was made), a build that ends in ERROR with a fault (also behind a 502 on the poll that
 * would have seen it), a quota refusal and a guest that never comes up. Transient errors end ACTIVE with
 * exactly one server; permanent ones end in an *_ERROR status carrying a fault, fast; deleting everything
 * leaves no server, artifact or unrevoked certificate. The FakeProvider injects them (failNext, by instance
 * name, or `pollFails` below for the task manager's polls only).
 * Embedded aedes + in-memory store (test/control-plane/harness.ts); no setup script.
 * SIGKILL of task workers at each step: test/control-plane/crash.test.ts. libvirtd restart:
 * test/faults/libvirtd-restart.test.ts.
 */
import {
  type ControlPlane,
  type ProviderError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  RateLimitedError,
} from '@corral/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, idle, until } from '../control-plane/harness.js';
import { type FaultEnv, startFaultEnv } from './env.js';
import { allInstances, checkInvariant } from './invariant.js';

describe('provider errors', () => {
  let env: FaultEnv;
  let plane: ControlPlane;
  const createCalls = new Map<string, number[]>();
  const pollFails = new Map<string, ProviderError[]>();
  const polledErrors = new Map<string, number>();
  const serverNames = new Map<string, string>();

  beforeAll(async () => {
    env = await startFaultEnv();
    const original = env.provider.createServer.bind(env.provider);
    env.provider.createServer = (request, options) => {
      createCalls.set(request.name, [...(createCalls.get(request.name) ?? []), Date.now()]);
      return original(request, options).then((server) => {
        serverNames.set(server.id, server.name);
        return server;
      });
    };
    // Errors for the task manager's polls of a server, by the server's name. Its calls carry the task's abort
    // signal; the fake fleet's own boot poll does not, and is left alone (a fake guest whose boot poll failed
    // would never boot, which says nothing about the task manager).
    const originalGet = env.provider.getServer.bind(env.provider);
    env.provider.getServer = async (id, options) => {
      if (options?.signal !== undefined) {
        const name = serverNames.get(id) ?? '';
        const queue = pollFails.get(name);
        const error = queue?.shift();
        if (error !== undefined) {
          polledErrors.set(name, (polledErrors.get(name) ?? 0) + 1);
          throw error;
        }
      }
      return originalGet(id, options);
    };
    plane = await env.startPlane();
  });
  afterAll(async () => {
    await env?.close();
  });

  const settled = (id: string, timeoutMs = 15_000) =>
    until(plane, id, (v) => idle(v) && (v.status === 'ACTIVE' || v.taskStatus.includes('ERROR')), timeoutMs);
  const opts = { provider: 'fake' };

  it('transient errors are retried: one server each, ACTIVE', async () => {
    const cases: Array<{ name: string; inject: () => void; minGapMs?: number }> = [
      {
        name: 'f-503',
        inject: () => env.provider.failNext('create', new ProviderUnavailableError('503', { ...opts, status: 503 })),
      },
      {
        name: 'f-429',
        inject: () =>
          env.provider.failNext('create', new RateLimitedError('429', { ...opts, status: 429, retryAfterMs: 400 })),
        minGapMs: 400,
      },
      { name: 'f-timeout', inject: () => env.provider.failNext('create', new ProviderTimeoutError('timed out', opts)) },
    ];
    for (const c of cases) {
      c.inject();
      const view = await create(plane, c.name);
      const done = await settled(view.id);
      expect(done.status, c.name).toBe('ACTIVE');
      if (c.minGapMs !== undefined) {
        const [first, second] = createCalls.get(c.name) ?? [];
        expect(second, 'retried').toBeDefined();
        expect((second ?? 0) - (first ?? 0), 'waited as Retry-After said').toBeGreaterThanOrEqual(c.minGapMs - 5);
      }
    }
    // 5xx and 429 answers while the task manager polls the build: asked again with back-off, ACTIVE in the end.
    pollFails.set('f-poll-502', [
      new ProviderUnavailableError('502 Bad Gateway', { ...opts, status: 502 }),
      new ProviderUnavailableError('503 Service Unavailable', { ...opts, status: 503 }),
      new RateLimitedError('429', { ...opts, status: 429, retryAfterMs: 200 }),
      new ProviderUnavailableError('502 Bad Gateway', { ...opts, status: 502 }),
    ]);
    const polled = await settled((await create(plane, 'f-poll-502')).id);
    expect(polled.status, `${polled.taskStatus} ${polled.fault?.message ?? ''}`).toBe('ACTIVE');
    expect(polledErrors.get('f-poll-502'), 'the polls met the injected errors').toBeGreaterThanOrEqual(3);
    console.log(`[faults] ${polledErrors.get('f-poll-502')} transient errors while polling the build: ACTIVE`);
    // The unknown outcome (503 after the server was made) is found again by its idempotency key.
    const lost = await settled((await create(plane, 'f-fail-create')).id);
    expect(lost.status).toBe('ACTIVE');
    const report = await checkInvariant(env);
    expect(report.active + report.errored).toBe(5);
    expect(report.active).toBe(5);
  });

  it('permanent errors end in an error status with a fault', async () => {
    const names = ['p-fail-build', 'p-fail-quota', 'p-never-connects', 'p-fail-build-502'];
    // The poll that would see the server in ERROR answers 502 first: the ERROR and its fault still end the
    // create at once, not a guest-agent timeout (the build deadline is 6 s).
    pollFails.set('p-fail-build-502', [new ProviderUnavailableError('502 Bad Gateway', { ...opts, status: 502 })]);
    const views = await Promise.all(names.map((name) => create(plane, name)));
    const done = await Promise.all(views.map((v) => settled(v.id)));
    for (const view of done) {
      expect(view.taskStatus, view.name).toMatch(/ERROR/);
      expect(view.fault?.message, view.name).toBeTruthy();
    }
    const behind502 = done.find((v) => v.name === 'p-fail-build-502');
    expect(polledErrors.get('p-fail-build-502')).toBe(1);
    expect(behind502?.taskStatus).toBe('BUILDING_ERROR_SERVER');
    // BUILDING_ERROR_SERVER, not BUILDING_ERROR_TIMEOUT_GA: the ERROR behind the 502 ended the create, not
    // the build deadline (a wall-clock bound here would flake on a loaded machine).
    expect(behind502?.fault?.message).toMatch(/No valid host/);
    const report = await checkInvariant(env);
    expect(report.errored).toBeGreaterThanOrEqual(3);
  });

  it('deleting everything leaves no server, artifact or live certificate', async () => {
    const instances = (await allInstances(env)).filter((i) => i.deletedAt === null);
    // The delete's polls of one server meet a 503 and a 429 first.
    pollFails.set('f-503', [
      new ProviderUnavailableError('503', { ...opts, status: 503 }),
      new RateLimitedError('429', { ...opts, status: 429, retryAfterMs: 100 }),
    ]);
    await Promise.all(instances.map((i) => plane.instances.delete(i.id)));
    await Promise.all(instances.map((i) => until(plane, i.id, (v) => v.deletedAt !== null, 15_000)));
    const report = await checkInvariant(env);
    console.log(`[faults] provider errors: ${JSON.stringify(report)}`);
    expect(report).toMatchObject({ active: 0, errored: 0, servers: 0, deleted: 9 });
    expect(polledErrors.get('f-503'), 'the delete polls met the injected errors').toBe(2);
    expect(env.provider.resources()).toEqual([]);
  });
});
