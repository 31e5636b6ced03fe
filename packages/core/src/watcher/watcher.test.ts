import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createDefaultCatalog } from '../datastore/defaults.js';
import { StatusEventBus } from '../instance/events.js';
import type { Instance } from '../instance/models.js';
import { InstanceService } from '../instance/service.js';
import { instanceView } from '../instance/views.js';
import { ProviderUnavailableError, RateLimitedError } from '../provider/errors.js';
import type { CallOptions, Server, ServerChangeHint, ServerStatus } from '../provider/types.js';
import { createMemoryStore } from '../store/memory.js';
import type { Store } from '../store/types.js';
import { FakeProvider } from '../testing/fake-provider.js';
import { SERVER_WATCH_STEP } from './observe.js';
import { ServerWatcher, type ServerWatcherOptions } from './watcher.js';

/** The FakeProvider, with servers an operator can stop, break or start behind corral's back. */
class OperatedProvider extends FakeProvider {
  readonly forced = new Map<string, Pick<Server, 'status' | 'fault'>>();
  /** Runs inside the next listServers call, before it answers (to race a write against the watcher). */
  duringList: (() => Promise<void>) | undefined;

  set(id: string, status: ServerStatus, fault?: Server['fault']): void {
    this.forced.set(id, { status, ...(fault !== undefined && { fault }) });
  }

  #apply(server: Server): Server {
    const forced = this.forced.get(server.id);
    return forced === undefined ? server : { ...server, ...forced };
  }

  override async getServer(id: string, options?: CallOptions): Promise<Server> {
    return this.#apply(await super.getServer(id, options));
  }

  override async listServers(options?: CallOptions): Promise<Server[]> {
    const servers = (await super.listServers(options)).map((server) => this.#apply(server));
    const during = this.duringList;
    this.duringList = undefined;
    await during?.();
    return servers;
  }
}

/** A provider with an event stream: `emit` pushes a hint to every open stream. */
class EventedProvider extends OperatedProvider {
  readonly #streams = new Set<(hint: ServerChangeHint) => void>();

  emit(hint: ServerChangeHint): void {
    for (const push of this.#streams) push(hint);
  }

  async *watchServers(options: CallOptions): AsyncIterable<ServerChangeHint> {
    const queue: ServerChangeHint[] = [];
    let wake: (() => void) | undefined;
    const push = (hint: ServerChangeHint) => {
      queue.push(hint);
      wake?.();
    };
    this.#streams.add(push);
    const onAbort = () => wake?.();
    options.signal?.addEventListener('abort', onAbort);
    try {
      while (!options.signal?.aborted) {
        const hint = queue.shift();
        if (hint !== undefined) {
          yield hint;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      this.#streams.delete(push);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }
}

const logger = pino({ level: 'silent' });
const watchers: ServerWatcher[] = [];

afterEach(async () => {
  await Promise.all(watchers.splice(0).map((watcher) => watcher.stop()));
});

function watcher(store: Store, provider: FakeProvider, options: Partial<ServerWatcherOptions> = {}): ServerWatcher {
  const made = new ServerWatcher({
    store,
    providers: { fake: provider },
    logger,
    intervalMs: 60_000,
    random: () => 1,
    ...options,
  });
  watchers.push(made);
  return made;
}

/** An idle, HEALTHY instance whose server is ACTIVE, as a create task leaves it. */
async function activeInstance(store: Store, provider: FakeProvider, id: string): Promise<Instance> {
  const server = await provider.createServer({
    name: id,
    idempotencyKey: `key-${id}`,
    flavor: 'small',
    image: 'corral-guest',
    bootstrap: { userData: '#cloud-config' },
  });
  await store.createInstance({
    id,
    name: id,
    projectId: 'p',
    provider: 'fake',
    flavor: 'small',
    image: 'corral-guest',
    datastore: { type: 'redis', version: '7' },
    taskStatus: 'NONE',
    serviceStatus: 'HEALTHY',
  });
  return store.updateInstance(id, { serverId: server.id, serverStatus: 'ACTIVE' });
}

async function view(store: Store, id: string) {
  return instanceView(await store.getInstance(id));
}

async function until(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.each(['list', 'get'] as const)('ServerWatcher (mode %s)', (mode) => {
  it('shows a server stopped behind corral as SHUTDOWN, and ACTIVE again once it runs', async () => {
    const store = createMemoryStore();
    const provider = new OperatedProvider({ buildMs: 0 });
    const instance = await activeInstance(store, provider, 'db1');
    const other = await activeInstance(store, provider, 'db2');
    const watch = watcher(store, provider, { mode });

    await watch.poll();
    expect(watch.metrics.changes).toBe(0);
    expect((await view(store, instance.id)).status).toBe('ACTIVE');

    provider.set(instance.serverId ?? '', 'SHUTOFF');
    await watch.poll();
    const stopped = await view(store, instance.id);
    expect(stopped).toMatchObject({ status: 'SHUTDOWN', serverStatus: 'SHUTOFF', fault: null });
    expect((await view(store, other.id)).status).toBe('ACTIVE');

    provider.forced.delete(instance.serverId ?? '');
    await watch.poll();
    expect(await view(store, instance.id)).toMatchObject({ status: 'ACTIVE', serverStatus: 'ACTIVE' });
    expect(watch.metrics.changes).toBe(2);
    const calls = provider.calls.map((call) => call.operation);
    if (mode === 'list') expect(calls.filter((op) => op === 'get')).toEqual([]);
    else expect(calls.filter((op) => op === 'list')).toEqual([]);
  });

  it('reads a server gone without a delete as ERROR with a fault', async () => {
    const store = createMemoryStore();
    const provider = new OperatedProvider({ buildMs: 0 });
    const instance = await activeInstance(store, provider, 'db1');
    const watch = watcher(store, provider, { mode });
    await provider.deleteServer(instance.serverId ?? '');

    await watch.poll();
    const gone = await view(store, instance.id);
    expect(gone).toMatchObject({ status: 'ERROR', serverStatus: 'DELETED', taskStatus: 'NONE' });
    expect(gone.fault?.step).toBe(SERVER_WATCH_STEP);
    expect(gone.fault?.message).toContain('is gone from provider fake');
    // Missing from the list is confirmed with getServer before it counts.
    expect(provider.calls.some((call) => call.operation === 'get' && call.target === instance.serverId)).toBe(true);

    // Nothing more to write, and the fault keeps its first time.
    const gets = provider.calls.length;
    await watch.poll();
    expect((await view(store, instance.id)).fault?.time).toBe(gone.fault?.time);
    expect(watch.metrics.changes).toBe(1);
    if (mode === 'list') expect(provider.calls.slice(gets).map((call) => call.operation)).toEqual(['list']);
  });

  it("carries the provider's fault for a server in ERROR, and clears it when the server recovers", async () => {
    const store = createMemoryStore();
    const provider = new OperatedProvider({ buildMs: 0 });
    const instance = await activeInstance(store, provider, 'db1');
    const watch = watcher(store, provider, { mode });

    provider.set(instance.serverId ?? '', 'ERROR', { message: 'host lost power', code: 500 });
    await watch.poll();
    const broken = await view(store, instance.id);
    expect(broken).toMatchObject({ status: 'ERROR', serverStatus: 'ERROR' });
    expect(broken.fault?.message).toContain('host lost power');

    provider.forced.delete(instance.serverId ?? '');
    await watch.poll();
    expect(await view(store, instance.id)).toMatchObject({ status: 'ACTIVE', serverStatus: 'ACTIVE', fault: null });
  });

  it('keeps the last known status on a 5xx, backs off, and records the change once the provider answers', async () => {
    const store = createMemoryStore();
    const provider = new OperatedProvider({ buildMs: 0 });
    const instance = await activeInstance(store, provider, 'db1');
    // With random() = 1 the first pause after a failure is exactly twice the interval.
    const watch = watcher(store, provider, { mode, intervalMs: 300 });
    provider.set(instance.serverId ?? '', 'SHUTOFF');
    const opts = { provider: 'fake', status: 502 };
    provider.failNext(mode, new ProviderUnavailableError('502 Bad Gateway', opts));

    const started = Date.now();
    await watch.poll();
    expect(watch.metrics.providerErrors).toBe(1);
    expect(await view(store, instance.id)).toMatchObject({ status: 'ACTIVE', serverStatus: 'ACTIVE' });
    // Backing off: the next round does not ask the provider.
    const calls = provider.calls.length;
    await watch.poll();
    expect(provider.calls.length).toBe(calls);

    await until(async () => {
      await watch.poll();
      return (await view(store, instance.id)).serverStatus === 'SHUTOFF';
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(595);
    expect(watch.metrics.providerErrors).toBe(1);
  });

  it('waits as long as a 429 Retry-After says', async () => {
    const store = createMemoryStore();
    const provider = new OperatedProvider({ buildMs: 0 });
    const instance = await activeInstance(store, provider, 'db1');
    const watch = watcher(store, provider, { mode, intervalMs: 50 });
    provider.set(instance.serverId ?? '', 'SHUTOFF');
    provider.failNext(mode, new RateLimitedError('429', { provider: 'fake', status: 429, retryAfterMs: 400 }));
    const started = Date.now();
    await watch.poll();
    await until(async () => {
      await watch.poll();
      return (await view(store, instance.id)).serverStatus === 'SHUTOFF';
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(395);
  });

  it('leaves an instance alone while a task runs on it', async () => {
    const store = createMemoryStore();
    const provider = new OperatedProvider({ buildMs: 0 });
    const instance = await activeInstance(store, provider, 'db1');
    const watch = watcher(store, provider, { mode });
    await store.createTask(
      { id: 't-reboot', kind: 'reboot', instanceId: instance.id, args: {} },
      { instancePatch: { taskStatus: 'REBOOTING' } },
    );
    provider.set(instance.serverId ?? '', 'SHUTOFF');
    await watch.poll();
    expect(await view(store, instance.id)).toMatchObject({ status: 'REBOOT', serverStatus: 'ACTIVE' });
    expect(provider.calls.filter((call) => call.operation !== 'create')).toEqual([]);
  });
});

describe('ServerWatcher races and hints', () => {
  it('does not override a task that starts while the provider is being asked', async () => {
    const store = createMemoryStore();
    const provider = new OperatedProvider({ buildMs: 0 });
    const instance = await activeInstance(store, provider, 'db1');
    const watch = watcher(store, provider);
    provider.set(instance.serverId ?? '', 'SHUTOFF');
    // The reboot task is cast after the watcher read the instance, before it writes.
    provider.duringList = async () => {
      await store.createTask(
        { id: 't-reboot', kind: 'reboot', instanceId: instance.id, args: {} },
        { instancePatch: { taskStatus: 'REBOOTING' } },
      );
    };
    await watch.poll();
    expect(watch.metrics.conflicts).toBe(1);
    expect(await view(store, instance.id)).toMatchObject({ taskStatus: 'REBOOTING', serverStatus: 'ACTIVE' });
  });

  it('writes after a heartbeat raced it (the version moved, the instance is still idle)', async () => {
    const store = createMemoryStore();
    const provider = new OperatedProvider({ buildMs: 0 });
    const instance = await activeInstance(store, provider, 'db1');
    const watch = watcher(store, provider);
    provider.set(instance.serverId ?? '', 'SHUTOFF');
    provider.duringList = async () => {
      await store.applyServiceStatus({ instanceId: instance.id, bootId: 'b1', seq: 1, status: 'HEALTHY' });
    };
    await watch.poll();
    expect(watch.metrics.conflicts).toBe(1);
    expect(await view(store, instance.id)).toMatchObject({ status: 'SHUTDOWN', serverStatus: 'SHUTOFF' });
  });

  it("follows a provider's event stream between rounds", async () => {
    const store = createMemoryStore();
    const provider = new EventedProvider({ buildMs: 0 });
    const instance = await activeInstance(store, provider, 'db1');
    const watch = watcher(store, provider, { hintDelayMs: 0 });
    watch.start();
    await until(async () => watch.metrics.rounds === 1);
    const serverId = instance.serverId ?? '';
    provider.set(serverId, 'SHUTOFF');
    const stoppedAt = Date.now();
    provider.emit({ serverId, event: 'stopped' });
    await until(async () => (await view(store, instance.id)).status === 'SHUTDOWN');
    const latency = Date.now() - stoppedAt;
    // Far below the 60 s interval: the event, not a round, recorded it.
    expect(latency).toBeLessThan(2000);
    expect(watch.metrics).toMatchObject({ rounds: 1, hints: 1, changes: 1, hintChanges: 1 });
    // Hints about servers no instance watches are dropped.
    provider.emit({ serverId: 'not-ours', event: 'stopped' });
    await until(async () => watch.metrics.hints === 2);
    expect(watch.metrics.changes).toBe(1);
  });

  it('looks at once when a task ends, and the change reaches the instance watch stream', async () => {
    const store = createMemoryStore();
    const provider = new OperatedProvider({ buildMs: 0 });
    const events = new StatusEventBus();
    // What createControlPlane does: store writes become instance-changed events.
    store.subscribe((event) => {
      if (event.type !== 'instance') return;
      events.publish({
        kind: 'instance-changed',
        instanceId: event.instance.id,
        taskStatus: event.instance.taskStatus,
        deleted: event.instance.deletedAt !== null,
        at: new Date().toISOString(),
      });
    });
    const service = new InstanceService({
      store,
      catalog: createDefaultCatalog(),
      providers: { fake: provider },
      tasks: { cast: () => undefined },
      events,
    });
    const instance = await activeInstance(store, provider, 'db1');
    const watch = watcher(store, provider, { events, hintDelayMs: 0 });
    watch.start();
    await until(async () => watch.metrics.rounds === 1);

    const controller = new AbortController();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const change of service.watch({ instanceId: instance.id, signal: controller.signal })) {
        seen.push(change.status);
        if (change.status === 'SHUTDOWN') break;
      }
    })();
    // A task ran (its status changes are instance events), and the server is off when it ends.
    await store.updateInstance(instance.id, { taskStatus: 'RESTARTING' });
    provider.set(instance.serverId ?? '', 'SHUTOFF');
    await store.updateInstance(instance.id, { taskStatus: 'NONE' });
    await until(async () => seen.includes('SHUTDOWN'));
    controller.abort();
    await reading;
    // ACTIVE may show in between, if the stream reads the instance before the watcher wrote.
    expect(seen[0]).toBe('REBOOT');
    expect(seen.at(-1)).toBe('SHUTDOWN');
    expect(watch.metrics).toMatchObject({ rounds: 1, hintChanges: 1 });
  });

  it('polls on its own, with jittered rounds, until stopped', async () => {
    const store = createMemoryStore();
    const provider = new OperatedProvider({ buildMs: 0 });
    const instance = await activeInstance(store, provider, 'db1');
    let draws = 0;
    const watch = watcher(store, provider, {
      intervalMs: 40,
      random: () => (draws++ % 2 === 0 ? 0 : 1),
    });
    watch.start();
    provider.set(instance.serverId ?? '', 'PAUSED');
    await until(async () => (await view(store, instance.id)).serverStatus === 'PAUSED');
    await until(async () => watch.metrics.rounds >= 4);
    await watch.stop();
    const rounds = watch.metrics.rounds;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(watch.metrics.rounds).toBe(rounds);
  });

  it('refuses bad tuning, naming the field', () => {
    expect(() => watcher(createMemoryStore(), new FakeProvider(), { intervalMs: 0 })).toThrow(/intervalMs/);
    expect(() => watcher(createMemoryStore(), new FakeProvider(), { mode: 'stream' as 'list' })).toThrow(/mode/);
  });
});

/** A bus fed by the store's instance writes, as createControlPlane wires it. */
function wiredBus(store: Store): StatusEventBus {
  const events = new StatusEventBus();
  store.subscribe((event) => {
    if (event.type !== 'instance') return;
    events.publish({
      kind: 'instance-changed',
      instanceId: event.instance.id,
      taskStatus: event.instance.taskStatus,
      deleted: event.instance.deletedAt !== null,
      at: new Date().toISOString(),
    });
  });
  return events;
}

/** An evented provider whose `getServer` calls take a while and are counted while in flight. */
class SlowEventedProvider extends EventedProvider {
  inFlight = 0;
  peak = 0;

  override async getServer(id: string, options?: CallOptions): Promise<Server> {
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return await super.getServer(id, options);
    } finally {
      this.inFlight--;
    }
  }
}

const gets = (provider: FakeProvider) => provider.calls.filter((call) => call.operation === 'get').length;
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

describe('ServerWatcher under bursts (a host failure stops many servers at once)', () => {
  const N = 50;

  async function fleet(store: Store, provider: FakeProvider): Promise<Instance[]> {
    const instances: Instance[] = [];
    for (let i = 0; i < N; i++) instances.push(await activeInstance(store, provider, `db${i}`));
    return instances;
  }

  it.each(['list', 'get'] as const)(
    'mode %s: a round recording 50 changes makes no getServer call beyond its own',
    async (mode) => {
      const store = createMemoryStore();
      const provider = new EventedProvider({ buildMs: 0 });
      const events = wiredBus(store);
      const instances = await fleet(store, provider);
      const watch = watcher(store, provider, { mode, events, hintDelayMs: 0, random: () => 0 });
      watch.start();
      await until(async () => watch.metrics.rounds === 1);
      expect(gets(provider)).toBe(mode === 'get' ? N : 0);

      for (const instance of instances) provider.set(instance.serverId ?? '', 'SHUTOFF');
      await watch.poll();
      expect(watch.metrics.changes).toBe(N);
      await settle();
      // The round's own writes came back as N instance-changed events (NONE): none of them is a hint.
      expect(gets(provider)).toBe(mode === 'get' ? 2 * N : 0);
      expect(watch.metrics).toMatchObject({ hintChanges: 0, hintsHeld: 0 });
      expect(await view(store, 'db7')).toMatchObject({ status: 'SHUTDOWN', serverStatus: 'SHUTOFF' });
    },
  );

  it('still looks when a task ends or the conductor marks a guest silent, once per event', async () => {
    const store = createMemoryStore();
    const provider = new EventedProvider({ buildMs: 0 });
    const events = wiredBus(store);
    const instance = await activeInstance(store, provider, 'db1');
    const watch = watcher(store, provider, { events, hintDelayMs: 0, random: () => 0 });
    watch.start();
    await until(async () => watch.metrics.rounds === 1);

    // The conductor's silent mark: an instance write (not news) and a service-status event (news).
    provider.set(instance.serverId ?? '', 'SHUTOFF');
    await store.updateInstance(instance.id, { serviceStatus: 'FAILED_TIMEOUT_GUESTAGENT' });
    events.publish({
      kind: 'service-status',
      instanceId: instance.id,
      status: 'FAILED_TIMEOUT_GUESTAGENT',
      at: new Date().toISOString(),
    });
    await until(async () => watch.metrics.hintChanges === 1);
    await settle();
    expect(gets(provider)).toBe(1);

    // A task runs and ends: one look when it ends, none while it runs.
    await store.updateInstance(instance.id, { taskStatus: 'REBOOTING' });
    provider.set(instance.serverId ?? '', 'ACTIVE');
    await settle();
    expect(gets(provider)).toBe(1);
    await store.updateInstance(instance.id, { taskStatus: 'NONE' });
    await until(async () => watch.metrics.hintChanges === 2);
    await settle();
    expect(gets(provider)).toBe(2);
    expect(await view(store, instance.id)).toMatchObject({ serverStatus: 'ACTIVE' });
  });

  it('never has more hint looks in flight than `concurrency`', async () => {
    const store = createMemoryStore();
    const provider = new SlowEventedProvider({ buildMs: 0 });
    const instances = await fleet(store, provider);
    const watch = watcher(store, provider, { concurrency: 4, hintDelayMs: 0, random: () => 0 });
    watch.start();
    await until(async () => watch.metrics.rounds === 1);
    for (const instance of instances) provider.set(instance.serverId ?? '', 'SHUTOFF');
    for (const instance of instances) provider.emit({ serverId: instance.serverId ?? '', event: 'stopped' });
    await until(async () => watch.metrics.hintChanges === N);
    expect(gets(provider)).toBe(N);
    expect(provider.peak).toBe(4);
  });

  it('asks nothing on hints while the provider backs off, and the round after the pause records the change', async () => {
    const store = createMemoryStore();
    const provider = new EventedProvider({ buildMs: 0 });
    const events = wiredBus(store);
    const instances = await fleet(store, provider);
    const watch = watcher(store, provider, { events, hintDelayMs: 0, intervalMs: 200, random: () => 0 });
    provider.failNext('list', new RateLimitedError('429', { provider: 'fake', status: 429, retryAfterMs: 1500 }));
    watch.start();
    await until(async () => watch.metrics.providerErrors === 1);
    const failedAt = Date.now();

    for (const instance of instances) provider.set(instance.serverId ?? '', 'SHUTOFF');
    for (const instance of instances) provider.emit({ serverId: instance.serverId ?? '', event: 'stopped' });
    await until(async () => watch.metrics.hintsHeld === N);
    // A task ending during the back-off is held as well.
    await store.updateInstance('db0', { taskStatus: 'RESTARTING' });
    await store.updateInstance('db0', { taskStatus: 'NONE' });
    await until(async () => watch.metrics.hintsHeld === N + 1);
    expect(gets(provider)).toBe(0);
    expect(watch.metrics.changes).toBe(0);

    await until(async () => watch.metrics.changes === N);
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(1400);
    expect(watch.metrics.hintChanges).toBe(0);
    expect(gets(provider)).toBe(0);
  });
});
