import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { parseWith } from '../errors/index.js';
import type { StatusEvent, StatusEventBus } from '../instance/events.js';
import type { Instance } from '../instance/models.js';
import { backoffDelay } from '../messaging/backoff.js';
import { NotFoundError, ProviderError } from '../provider/errors.js';
import type { Provider } from '../provider/types.js';
import { StoreConflictError, StoreNotFoundError } from '../store/errors.js';
import type { Store } from '../store/types.js';
import { Limiter } from './limiter.js';
import { isWatchable, type ServerObservation, serverStatusPatch, WATCHABLE_TASK_STATUSES } from './observe.js';
import { ServerWatcherOptionsSchema, type ServerWatcherSettings, type ServerWatcherTuning } from './options.js';

/**
 * Keeps each live instance's server status true after its task is over (Trove only ever looks at the guest
 * after a build). Rounds of polling, jittered, one `listServers` per provider (or `getServer` per instance),
 * plus the provider's event stream where it has one (libvirt lifecycle events) and a look at once when a task
 * ends or the guest falls silent (an `instance-changed` event on the bus).
 *
 * Who writes `serverStatus`: a task owns the server while it runs, so the watcher writes only instances whose
 * task status is NONE or RESTART_REQUIRED, and only from the version it read before asking the provider
 * (optimistic versions: a task that started, or a heartbeat, in between makes the write a conflict, and the
 * instance is read and asked about again). A provider error changes nothing: the last known status stays, and
 * that provider's rounds back off (doubling from the interval, Retry-After honoured) until it answers again.
 * Hints obey that back-off too, and every `getServer` the watcher makes (rounds and hints alike) goes through
 * one limiter per provider with `concurrency` slots: a burst of hints never becomes a burst of calls.
 * A server that is gone (NotFound, confirmed by `getServer` when it is only missing from a list) reads
 * DELETED with a fault: the composite status shows ERROR (rule `server-vanished`).
 */
export interface ServerWatcherOptions extends ServerWatcherTuning {
  store: Store;
  providers: Record<string, Provider>;
  logger: Logger;
  /** Status events: a task that ended, or a guest that fell silent, makes the watcher look at once. */
  events?: StatusEventBus;
  /** For tests of the jitter and back-off. */
  random?: () => number;
}

export interface ServerWatcherMetrics {
  rounds: number;
  /** Servers looked at (listed or read). */
  observed: number;
  /** Status writes made. */
  changes: number;
  /** Writes refused because the instance changed meanwhile (then read again). */
  conflicts: number;
  /** Provider calls that failed (the last known status was kept). */
  providerErrors: number;
  /** Hints received from provider event streams. */
  hints: number;
  /** Hints (of any source) not acted on because that provider was backing off; the round after the pause covers them. */
  hintsHeld: number;
  /** Status writes made by a look on a hint (an event, a task that ended, a silent guest), not by a round. */
  hintChanges: number;
  /** How long the last round took. */
  lastRoundMs: number;
}

interface ProviderState {
  failures: number;
  notBefore: number;
}

type Outcome = 'written' | 'unchanged' | 'conflict' | 'skipped';

/** `held`: the provider was not asked (it is backing off, or the watcher stopped). */
type Look = ServerObservation | Error | 'held';

interface CheckMode {
  /** Counts writes as `hintChanges`, and a look not made for the back-off as `hintsHeld`. */
  hinted: boolean;
  /** Asks no provider that is backing off. */
  honourBackoff: boolean;
}

const MAX_ATTEMPTS = 3;

/** The service status the conductor writes for a guest that fell silent (heartbeat sweep, last will). */
const SILENT_SERVICE_STATUS = 'FAILED_TIMEOUT_GUESTAGENT';

function isWatchableTaskStatus(taskStatus: string): boolean {
  return (WATCHABLE_TASK_STATUSES as readonly string[]).includes(taskStatus);
}

export class ServerWatcher {
  readonly settings: ServerWatcherSettings;
  readonly metrics: ServerWatcherMetrics = {
    rounds: 0,
    observed: 0,
    changes: 0,
    conflicts: 0,
    providerErrors: 0,
    hints: 0,
    hintsHeld: 0,
    hintChanges: 0,
    lastRoundMs: 0,
  };
  readonly #options: ServerWatcherOptions;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #stop = new AbortController();
  readonly #providerState = new Map<string, ProviderState>();
  /** One per provider: every `getServer` the watcher makes waits for a slot. */
  readonly #limiters = new Map<string, Limiter>();
  /**
   * The last task status seen per live instance (from events, else from a round or a look), so that only a
   * task that ENDS makes a hint: the watcher's own writes, and any other change of an idle instance, are not.
   */
  readonly #taskStatus = new Map<string, string>();
  /** provider + server id → instance id, from the last round: where an event's hint goes. */
  readonly #byServer = new Map<string, string>();
  readonly #hinted = new Map<string, NodeJS.Timeout>();
  readonly #followers: Promise<void>[] = [];
  /** Looks made on hints, awaited by `stop` so none writes after it. */
  readonly #looks = new Set<Promise<unknown>>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #offEvents: (() => void) | undefined;
  #started = false;

  constructor(options: ServerWatcherOptions) {
    const {
      store: _store,
      providers: _providers,
      logger: _logger,
      events: _events,
      random: _random,
      ...tuning
    } = options;
    this.settings = parseWith(ServerWatcherOptionsSchema, tuning, 'server watcher options');
    this.#options = options;
    this.#log = options.logger.child({ component: 'server-watcher' });
    this.#random = options.random ?? Math.random;
    // Each provider call in flight listens on the stop signal (bounded by the limiters), as do event streams.
    const providers = Object.keys(options.providers).length;
    setMaxListeners(providers * (this.settings.concurrency + 2) + 10, this.#stop.signal);
  }

  /** Starts the rounds (the first within a second), the event streams and the bus subscription. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#schedule(Math.floor(this.#random() * Math.min(this.settings.intervalMs, 1000)));
    if (this.settings.providerEvents) {
      for (const [name, provider] of Object.entries(this.#options.providers)) {
        if (provider.watchServers !== undefined) this.#followers.push(this.#follow(name, provider));
      }
    }
    this.#offEvents = this.#options.events?.on((event) => this.#onStatusEvent(event));
    this.#log.info(
      {
        intervalMs: this.settings.intervalMs,
        mode: this.settings.mode,
        events: this.#followers.length > 0,
      },
      'server watcher started',
    );
  }

  async stop(): Promise<void> {
    this.#stop.abort(new Error('server watcher stopped'));
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const timer of this.#hinted.values()) clearTimeout(timer);
    this.#hinted.clear();
    this.#offEvents?.();
    await Promise.allSettled([this.#polling, ...this.#followers, ...this.#looks]);
  }

  /** Runs one round now (one at a time: a call during a round waits for that round). */
  poll(): Promise<void> {
    if (this.#polling === undefined) {
      this.#polling = this.#round().finally(() => {
        this.#polling = undefined;
      });
    }
    return this.#polling;
  }

  /**
   * Reads one instance and its server now and records what changed; true when it wrote. Skips an instance
   * that is busy, deleted or has no server. An explicit call asks the provider even while it backs off (it
   * still waits for a slot of the provider's limiter); hints do not.
   */
  check(instanceId: string): Promise<boolean> {
    return this.#check(instanceId, { hinted: false, honourBackoff: false });
  }

  async #check(instanceId: string, mode: CheckMode): Promise<boolean> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS && !this.#stop.signal.aborted; attempt++) {
      const instance = await this.#options.store.findInstance(instanceId);
      if (instance === undefined || !isWatchable(instance)) return false;
      const provider = this.#options.providers[instance.provider];
      if (provider === undefined) return false;
      this.#index(instance);
      this.#knowTaskStatus(instance);
      const observation = await this.#observe(instance.provider, provider, instance, mode.honourBackoff);
      if (observation === 'held') {
        if (mode.hinted && !this.#stop.signal.aborted) this.metrics.hintsHeld++;
        return false;
      }
      if (observation instanceof Error) {
        this.#failed(instance.provider, observation);
        return false;
      }
      const outcome = await this.#apply(instance, observation);
      if (outcome === 'written' && mode.hinted) this.metrics.hintChanges++;
      if (outcome !== 'conflict') return outcome === 'written';
    }
    return false;
  }

  /**
   * Bus events that are news about a server: a task that just ended (its server may have changed under it)
   * and a guest the conductor marked silent (its server may be stopped). Every other change of an idle
   * instance is not, above all the watcher's own writes: a round recording a host failure writes N instances,
   * and N looks on top of it would be a burst of provider calls (429s on a large cloud) for nothing.
   */
  #onStatusEvent(event: StatusEvent): void {
    if (event.kind === 'service-status') {
      if (event.status === SILENT_SERVICE_STATUS && event.previousStatus !== SILENT_SERVICE_STATUS) {
        this.#hint(event.instanceId);
      }
      return;
    }
    if (event.deleted === true) {
      this.#taskStatus.delete(event.instanceId);
      return;
    }
    if (event.taskStatus === undefined) return;
    const before = this.#taskStatus.get(event.instanceId);
    this.#taskStatus.set(event.instanceId, event.taskStatus);
    // Unknown before: a task may have ended before the watcher saw the instance; one look settles it.
    const taskEnded = before === undefined || !isWatchableTaskStatus(before);
    if (isWatchableTaskStatus(event.taskStatus) && taskEnded) this.#hint(event.instanceId);
  }

  /** Records a task status read from the store, unless an event (newer than any read) already told one. */
  #knowTaskStatus(instance: Instance): void {
    if (!this.#taskStatus.has(instance.id)) this.#taskStatus.set(instance.id, instance.taskStatus);
  }

  #limiter(name: string): Limiter {
    let limiter = this.#limiters.get(name);
    if (limiter === undefined) {
      limiter = new Limiter(this.settings.concurrency);
      this.#limiters.set(name, limiter);
    }
    return limiter;
  }

  #backingOff(name: string): boolean {
    const state = this.#providerState.get(name);
    return state !== undefined && Date.now() < state.notBefore;
  }

  #schedule(delayMs: number): void {
    if (this.#stop.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.poll()
        .catch((error: unknown) => this.#log.error({ err: error }, 'server watch round failed'))
        .finally(() => this.#schedule(this.#jittered(this.settings.intervalMs)));
    }, delayMs);
    this.#timer.unref();
  }

  #jittered(ms: number): number {
    const { jitter } = this.settings;
    return Math.max(0, Math.round(ms * (1 - jitter + 2 * jitter * this.#random())));
  }

  async #round(): Promise<void> {
    const started = Date.now();
    const byProvider = new Map<string, Instance[]>();
    let after: string | undefined;
    do {
      const page = await this.#options.store.listInstances({ taskStatus: WATCHABLE_TASK_STATUSES, limit: 1000, after });
      for (const instance of page.items) {
        if (!isWatchable(instance)) continue;
        const list = byProvider.get(instance.provider) ?? [];
        list.push(instance);
        byProvider.set(instance.provider, list);
      }
      after = page.nextAfter;
    } while (after !== undefined && !this.#stop.signal.aborted);
    this.#byServer.clear();
    for (const list of byProvider.values()) {
      for (const instance of list) {
        this.#index(instance);
        this.#knowTaskStatus(instance);
      }
    }
    await Promise.all(
      [...byProvider].map(async ([name, instances]) => {
        const provider = this.#options.providers[name];
        if (provider === undefined) return;
        if (this.#backingOff(name)) return;
        const ok =
          this.settings.mode === 'list'
            ? await this.#pollByList(name, provider, instances)
            : await this.#pollByGet(name, provider, instances);
        if (ok) this.#providerState.delete(name);
      }),
    );
    this.metrics.rounds++;
    this.metrics.lastRoundMs = Date.now() - started;
  }

  /** One `listServers`; servers missing from it are confirmed one by one. False when the provider failed. */
  async #pollByList(name: string, provider: Provider, instances: Instance[]): Promise<boolean> {
    let servers: Awaited<ReturnType<Provider['listServers']>>;
    try {
      servers = await this.#call((signal) => provider.listServers({ signal }));
    } catch (error) {
      this.#failed(name, error);
      return false;
    }
    const byId = new Map(servers.map((server) => [server.id, server]));
    const missing: Instance[] = [];
    for (const instance of instances) {
      const server = byId.get(instance.serverId ?? '');
      if (server === undefined || server.status === 'DELETED') {
        // Already recorded as gone: nothing to confirm.
        if (instance.serverStatus !== 'DELETED') missing.push(instance);
        continue;
      }
      this.metrics.observed++;
      await this.#applyOrRecheck(instance, { kind: 'found', server });
    }
    // A list may be paged or eventually consistent: only getServer's NotFound says a server is gone.
    return this.#pollByGet(name, provider, missing);
  }

  async #pollByGet(name: string, provider: Provider, instances: Instance[]): Promise<boolean> {
    let ok = true;
    await mapLimit(instances, this.settings.concurrency, async (instance) => {
      if (this.#stop.signal.aborted) return;
      const observation = await this.#observe(name, provider, instance, true);
      if (observation === 'held') {
        // The provider failed meanwhile (in this round, or on a hint): the rest wait out its back-off, and
        // the round must not count as an answer that ends it.
        ok = false;
        return;
      }
      if (observation instanceof Error) {
        if (ok) this.#failed(name, observation);
        ok = false;
        return;
      }
      await this.#applyOrRecheck(instance, observation);
    });
    return ok;
  }

  /** One `getServer`, in a slot of the provider's limiter. */
  #observe(name: string, provider: Provider, instance: Instance, honourBackoff: boolean): Promise<Look> {
    return this.#limiter(name).run(async (): Promise<Look> => {
      // Checked once the slot is ours: the provider may have begun to back off while this look waited.
      if (this.#stop.signal.aborted || (honourBackoff && this.#backingOff(name))) return 'held';
      try {
        const server = await this.#call((signal) => provider.getServer(instance.serverId ?? '', { signal }));
        this.metrics.observed++;
        return server.status === 'DELETED' ? { kind: 'gone' } : { kind: 'found', server };
      } catch (error) {
        if (error instanceof NotFoundError) {
          this.metrics.observed++;
          return { kind: 'gone' };
        }
        return error instanceof Error ? error : new Error(`provider ${name} failed: ${String(error)}`);
      }
    });
  }

  async #applyOrRecheck(instance: Instance, observation: ServerObservation): Promise<void> {
    try {
      if ((await this.#apply(instance, observation)) === 'conflict') {
        await this.#check(instance.id, { hinted: false, honourBackoff: true });
      }
    } catch (error) {
      this.#log.error({ err: error, instanceId: instance.id }, 'recording a server status failed');
    }
  }

  /** Writes the observation from the version read before it was made. */
  async #apply(instance: Instance, observation: ServerObservation): Promise<Outcome> {
    const patch = serverStatusPatch(instance, observation, Date.now());
    if (patch === undefined) return 'unchanged';
    try {
      await this.#options.store.updateInstance(instance.id, patch, { expectedVersion: instance.version });
    } catch (error) {
      if (error instanceof StoreConflictError) {
        this.metrics.conflicts++;
        return 'conflict';
      }
      if (error instanceof StoreNotFoundError) return 'skipped';
      throw error;
    }
    this.metrics.changes++;
    const to = patch.serverStatus ?? instance.serverStatus;
    const fields = {
      instanceId: instance.id,
      serverId: instance.serverId,
      provider: instance.provider,
      from: instance.serverStatus,
      to,
      ...(patch.fault != null && { fault: patch.fault.message }),
    };
    if (to === 'ACTIVE' || to === 'BUILD') this.#log.info(fields, 'server status changed');
    else this.#log.warn(fields, 'server status changed');
    return 'written';
  }

  #failed(name: string, error: unknown): void {
    this.metrics.providerErrors++;
    const state = this.#providerState.get(name) ?? { failures: 0, notBefore: 0 };
    state.failures++;
    const retryAfter =
      error instanceof ProviderError && 'retryAfterMs' in error && typeof error.retryAfterMs === 'number'
        ? error.retryAfterMs
        : 0;
    const pause = Math.max(
      retryAfter,
      backoffDelay(state.failures, {
        initialMs: this.settings.intervalMs,
        maxMs: this.settings.maxBackoffMs,
        random: this.#random,
      }),
    );
    state.notBefore = Date.now() + pause;
    this.#providerState.set(name, state);
    if (this.#stop.signal.aborted) return;
    this.#log.warn(
      {
        provider: name,
        failures: state.failures,
        pauseMs: pause,
        err: error instanceof Error ? error.message : String(error),
      },
      'provider did not answer the server watch; keeping the last known statuses',
    );
  }

  #index(instance: Instance): void {
    if (instance.serverId !== null) this.#byServer.set(`${instance.provider}\u0000${instance.serverId}`, instance.id);
  }

  /**
   * Runs one provider call with a signal that aborts on stop or after `callTimeoutMs`. Not
   * `AbortSignal.any([stop, AbortSignal.timeout()])`: each of those stays tied to the long-lived stop signal,
   * and older Nodes keep them (nodejs/node#55351); here the listener on the stop signal is removed after each
   * call, and the timer cleared.
   */
  async #call<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const stop = this.#stop.signal;
    const onStop = () => controller.abort(stop.reason);
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(
      () => controller.abort(new DOMException('provider call timed out', 'TimeoutError')),
      this.settings.callTimeoutMs,
    );
    timer.unref();
    try {
      return await fn(controller.signal);
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    }
  }

  /**
   * Looks at one instance shortly: bursts of hints for one instance make one read. The look waits for a slot
   * of the provider's limiter and is dropped while the provider backs off (`hintsHeld`).
   */
  #hint(instanceId: string): void {
    if (this.#stop.signal.aborted || this.#hinted.has(instanceId)) return;
    const timer = setTimeout(() => {
      this.#hinted.delete(instanceId);
      const look = this.#check(instanceId, { hinted: true, honourBackoff: true })
        .catch((error: unknown) => this.#log.error({ err: error, instanceId }, 'checking a server after a hint failed'))
        .finally(() => this.#looks.delete(look));
      this.#looks.add(look);
    }, this.settings.hintDelayMs);
    timer.unref();
    this.#hinted.set(instanceId, timer);
  }

  /** Follows a provider's event stream for as long as the watcher runs, opening it again after it breaks. */
  async #follow(name: string, provider: Provider): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    while (!signal.aborted && provider.watchServers !== undefined) {
      try {
        for await (const hint of provider.watchServers({ signal })) {
          failures = 0;
          this.metrics.hints++;
          const instanceId = this.#byServer.get(`${name}\u0000${hint.serverId}`);
          this.#log.debug({ provider: name, serverId: hint.serverId, event: hint.event, instanceId }, 'server event');
          if (instanceId !== undefined) this.#hint(instanceId);
        }
      } catch (error) {
        if (signal.aborted) return;
        this.#log.warn({ provider: name, err: (error as Error).message }, 'server event stream failed; polling covers');
      }
      if (signal.aborted) return;
      failures++;
      await sleep(backoffDelay(failures, { initialMs: 1000, maxMs: 60_000, random: this.#random }), undefined, {
        signal,
      }).catch(() => undefined);
    }
  }
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
