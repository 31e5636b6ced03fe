/**
 * The server watcher inside a whole control plane (instance service, task manager, conductor, fake guests over
 * the embedded broker): a server stopped, broken or removed behind corral's back shows in the instance's
 * status within a few rounds, a task running on the instance is left alone, and the role can be left out.
 * Needs nothing beyond npm deps (the embedded broker runs in-process).
 */
import type { CallOptions, ControlPlane, Provider, Server, ServerStatus } from '@corral/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, idle, startEnv, type TestEnv, until } from './harness.js';

/** The guested fake provider, with statuses an operator forces behind corral's back. */
function operated(inner: Provider): { provider: Provider; forced: Map<string, Pick<Server, 'status' | 'fault'>> } {
  const forced = new Map<string, Pick<Server, 'status' | 'fault'>>();
  const apply = (server: Server): Server => ({ ...server, ...forced.get(server.id) });
  const provider: Provider = {
    specificationVersion: inner.specificationVersion,
    name: inner.name,
    capabilities: inner.capabilities,
    createServer: (request, o) => inner.createServer(request, o),
    getServer: async (id: string, o?: CallOptions) => apply(await inner.getServer(id, o)),
    listServers: async (o?: CallOptions) => (await inner.listServers(o)).map(apply),
    findServerByIdempotencyKey: (key, o) => inner.findServerByIdempotencyKey(key, o),
    deleteServer: (id, o) => inner.deleteServer(id, o),
    rebootServer: (id, o) => inner.rebootServer(id, o),
    resizeServer: (id, flavor, o) => inner.resizeServer(id, flavor, o),
    listFlavors: (o) => inner.listFlavors(o),
    listImages: (o) => inner.listImages(o),
  };
  return { provider, forced };
}

describe('server watcher in the control plane', () => {
  let env: TestEnv;
  let plane: ControlPlane;
  let forced: Map<string, Pick<Server, 'status' | 'fault'>>;
  const force = (serverId: string | null, status: ServerStatus, fault?: Server['fault']) =>
    forced.set(serverId ?? '', { status, ...(fault !== undefined && { fault }) });

  beforeAll(async () => {
    env = await startEnv();
    const operatedProvider = operated(env.guestedProvider);
    forced = operatedProvider.forced;
    plane = await env.startPlane({
      providers: { fake: operatedProvider.provider },
      serverWatch: { intervalMs: 100, hintDelayMs: 0 },
    });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('shows a stopped server as SHUTDOWN and a running one as ACTIVE again', async () => {
    const view = await create(plane, 'watch-stop');
    const ready = await until(plane, view.id, idle);
    expect(ready).toMatchObject({ status: 'ACTIVE', serverStatus: 'ACTIVE' });
    expect(plane.serverWatcher).toBeDefined();

    force(ready.serverId, 'SHUTOFF');
    const stopped = await until(plane, view.id, (v) => v.status === 'SHUTDOWN', 5_000);
    expect(stopped).toMatchObject({ serverStatus: 'SHUTOFF', taskStatus: 'NONE', operatingStatus: null });

    forced.clear();
    const back = await until(plane, view.id, (v) => v.serverStatus === 'ACTIVE', 5_000);
    expect(back).toMatchObject({ status: 'ACTIVE', serviceStatus: 'HEALTHY', operatingStatus: 'HEALTHY' });
  });

  it('reads a server in ERROR as ERROR with its fault; a server gone as ERROR that a delete still cleans up', async () => {
    const view = await create(plane, 'watch-gone');
    const ready = await until(plane, view.id, idle);
    force(ready.serverId, 'ERROR', { message: 'hypervisor lost the domain', code: 500 });
    const broken = await until(plane, view.id, (v) => v.serverStatus === 'ERROR', 5_000);
    expect(broken.status).toBe('ERROR');
    expect(broken.fault?.message).toContain('hypervisor lost the domain');
    forced.clear();

    await env.provider.deleteServer(ready.serverId ?? '');
    const gone = await until(plane, view.id, (v) => v.serverStatus === 'DELETED', 5_000);
    expect(gone).toMatchObject({ status: 'ERROR', taskStatus: 'NONE' });
    expect(gone.fault?.message).toContain('is gone from provider fake');

    await plane.instances.delete(view.id);
    const deleted = await until(plane, view.id, (v) => v.deletedAt !== null, 10_000);
    expect(deleted.status).toBe('DELETED');
  });

  it('leaves an instance alone while its task runs', async () => {
    const view = await create(plane, 'watch-busy');
    const ready = await until(plane, view.id, idle);
    const changes = plane.serverWatcher?.metrics.changes ?? 0;
    // Every write to the instance, as the store commits it.
    const writes: string[] = [];
    const off = env.store.subscribe((event) => {
      if (event.type === 'instance' && event.instance.id === view.id) {
        writes.push(`${event.instance.taskStatus}/${event.instance.serverStatus}`);
      }
    });
    // A restart task (through the guest; the server is not touched) while the server reads SHUTOFF; the
    // watcher's rounds (every 100 ms) go on while the task waits for the guest's next heartbeat (200 ms).
    await plane.instances.restart(view.id);
    force(ready.serverId, 'SHUTOFF');
    const after = await until(plane, view.id, (v) => v.status === 'SHUTDOWN', 10_000);
    off();
    // The task's writes kept the server status it started with; the watcher wrote only once it was over.
    expect(writes[0]).toBe('RESTARTING/ACTIVE');
    expect(writes.filter((w) => w.startsWith('RESTARTING')).every((w) => w.endsWith('/ACTIVE'))).toBe(true);
    expect(writes.at(-1)).toBe('NONE/SHUTOFF');
    expect(after).toMatchObject({ taskStatus: 'NONE', serverStatus: 'SHUTOFF' });
    expect(plane.serverWatcher?.metrics.changes).toBeGreaterThan(changes);
    forced.clear();
  });

  it('runs only in processes with the watcher role, and not when turned off', async () => {
    const api = await env.startPlane({ roles: ['api'], pki: undefined });
    expect(api.serverWatcher).toBeUndefined();
    const off = await env.startPlane({ roles: ['api', 'conductor', 'watcher'], pki: undefined, serverWatch: false });
    expect(off.serverWatcher).toBeUndefined();
    const watcherOnly = await env.startPlane({ roles: ['watcher'], pki: undefined });
    expect(watcherOnly.serverWatcher?.settings.intervalMs).toBe(10_000);
  });
});
