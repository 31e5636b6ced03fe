import type { Logger } from 'pino';
import * as z from 'zod';
import type { StatusEventBus } from '../instance/events.js';
import type { StateMessage } from '../messaging/liveness.js';
import type { MessageContext, MethodRegistry } from '../messaging/registry.js';
import { allGuestsTopic } from '../messaging/topics.js';
import type { MqttTransport } from '../messaging/transport.js';
import { ServiceStatus } from '../status/service-status.js';
import { StoreConflictError } from '../store/errors.js';
import type { ServiceStatusReport, Store } from '../store/types.js';
import { Batcher } from './batcher.js';
import { conductorMethods } from './messages.js';
import type { GuestPresence } from './presence.js';

/**
 * The conductor (Trove's `conductor/manager.py`): takes the guests' heartbeats off
 * `corral/v1/guest/+/conductor`, checks each against the identity the broker vouches for, orders them by
 * (boot id, sequence) and writes service status + last seen in batched transactions, then publishes a
 * status event. Unlike Trove's `_message_too_old`, no guest clock is ever compared.
 *
 * The sender check has two layers: the broker's ACL lets a guest publish only under its own topic subtree
 * (its certificate's CN), the transport rejects an envelope whose `from` is not the topic's guest, and here the
 * instance a heartbeat speaks for must belong to that guest.
 *
 * An active sweep marks guests silent for longer than the heartbeat expiry FAILED_TIMEOUT_GUESTAGENT (Trove
 * only noticed on API reads); the next heartbeat of a returning guest writes its real status again. A last will
 * (`death` on the state topic) of the guest's current boot marks it at once; a will of an older boot is ignored.
 */

/** The conductor contract (conductor/messages.ts) as the transport's method registry. */
export const conductorRegistry = Object.fromEntries(
  Object.entries(conductorMethods).map(([name, args]) => [name, { args }]),
) as { [K in keyof typeof conductorMethods]: { args: (typeof conductorMethods)[K] } };

/** What a status write needs from a heartbeat or a status report (the envelope carries bootId and seq). */
const StatusArgsSchema = z.object({ instanceId: z.string().min(1).max(128), serviceStatus: ServiceStatus });

export interface ConductorOptions {
  store: Store;
  transport: MqttTransport;
  events: StatusEventBus;
  presence: GuestPresence;
  logger: Logger;
  /** A guest silent this long is FAILED_TIMEOUT_GUESTAGENT (Trove's agent_heartbeat_expiry, default 60 s). */
  heartbeatExpiryMs?: number;
  /** How often the sweep runs (default a quarter of the expiry). */
  sweepIntervalMs?: number;
  /**
   * Heartbeats per transaction (default 500), transactions in flight (default 1), and, with more than one in
   * flight, how long a heartbeat waits for company before taking a free one (default 2 ms). A heartbeat that
   * finds no transaction running is written at once; under load each batch is what queued behind the last.
   */
  batch?: { maxBatch?: number; maxDelayMs?: number; concurrency?: number };
  /** Share group so several conductors split the heartbeats (where the broker has shared subscriptions). */
  shareGroup?: string;
  /** Registry of conductor methods; the conductor contract's by default. */
  registry?: MethodRegistry;
}

export interface ConductorMetrics {
  received: number;
  /** Args the schema refused, or a message not on a guest's topic (the transport counts bad envelopes). */
  malformed: number;
  applied: number;
  stale: number;
  unknownInstance: number;
  identityMismatch: number;
  deleted: number;
  flushes: number;
  flushErrors: number;
  sweptTimeouts: number;
  deaths: number;
  staleDeaths: number;
}

interface Pending {
  report: ServiceStatusReport & { receivedAt: number };
  guestId: string;
}

export class Conductor {
  readonly #options: ConductorOptions;
  readonly #batcher: Batcher<Pending>;
  readonly #guestOf = new Map<string, string>();
  readonly #log: Logger;
  #sweepTimer: NodeJS.Timeout | undefined;
  #unsubscribes: (() => Promise<void>)[] = [];
  #offDeath: (() => void) | undefined;
  #sweeping = false;
  readonly metrics: ConductorMetrics = {
    received: 0,
    malformed: 0,
    applied: 0,
    stale: 0,
    unknownInstance: 0,
    identityMismatch: 0,
    deleted: 0,
    flushes: 0,
    flushErrors: 0,
    sweptTimeouts: 0,
    deaths: 0,
    staleDeaths: 0,
  };

  constructor(options: ConductorOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'conductor' });
    this.#batcher = new Batcher((batch) => this.#flush(batch), {
      maxBatch: options.batch?.maxBatch ?? 500,
      maxDelayMs: options.batch?.maxDelayMs ?? 2,
      // One transaction at a time keeps the writes in arrival order; more in flight (PostgreSQL) is allowed,
      // and stays correct (row locks + the (boot id, seq) check), but measured no faster on two cores.
      concurrency: options.batch?.concurrency ?? 1,
      onError: (error, batch) => {
        this.metrics.flushErrors++;
        // The guests send again at their next interval; nothing is half-written (one transaction per batch).
        this.#log.error({ err: error, dropped: batch.length }, 'writing a heartbeat batch failed');
      },
    });
  }

  get heartbeatExpiryMs(): number {
    return this.#options.heartbeatExpiryMs ?? 60_000;
  }

  async start(): Promise<void> {
    const { transport, presence } = this.#options;
    const filter = allGuestsTopic('conductor');
    this.#unsubscribes.push(
      await transport.handle(
        filter,
        this.#options.registry ?? conductorRegistry,
        {
          heartbeat: (args: unknown, context: MessageContext) => this.receive(args, context),
          status_report: (args: unknown, context: MessageContext) => this.receive(args, context),
          notify_error: (args: unknown, context: MessageContext) => {
            this.#log.warn({ guestId: context.guestId, report: args }, 'guest reported a failed cast');
          },
          notify_end: () => undefined,
          backup_update: () => undefined,
        },
        { share: this.#options.shareGroup ?? 'corral-conductor' },
      ),
    );
    this.#offDeath = presence.onDeath((guestId, bootId) => {
      void this.#onDeath(guestId, bootId);
    });
    const interval = this.#options.sweepIntervalMs ?? Math.max(50, Math.floor(this.heartbeatExpiryMs / 4));
    this.#sweepTimer = setInterval(() => void this.sweep(), interval);
  }

  async stop(): Promise<void> {
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.#offDeath?.();
    for (const unsubscribe of this.#unsubscribes.splice(0)) await unsubscribe().catch(() => undefined);
    await this.#batcher.close();
  }

  /** Feeds one heartbeat (validated args + the transport's context). Public for the ingest benchmark. */
  receive(args: unknown, context: Pick<MessageContext, 'guestId' | 'bootId' | 'seq'>): void {
    this.metrics.received++;
    const parsed = StatusArgsSchema.safeParse(args);
    if (!parsed.success || context.guestId === undefined) {
      this.metrics.malformed++;
      return;
    }
    this.#batcher.add({
      guestId: context.guestId,
      report: {
        instanceId: parsed.data.instanceId,
        bootId: context.bootId,
        seq: context.seq,
        status: parsed.data.serviceStatus,
        receivedAt: Date.now(),
      },
    });
  }

  /** Waits until every heartbeat received so far is written. */
  drain(): Promise<void> {
    return this.#batcher.drain();
  }

  async #flush(batch: Pending[]): Promise<void> {
    const { store, events } = this.#options;
    this.metrics.flushes++;
    // Which guest owns each instance never changes: look it up once per instance.
    const unknown = [...new Set(batch.map((p) => p.report.instanceId).filter((id) => !this.#guestOf.has(id)))];
    await Promise.all(
      unknown.map(async (id) => {
        const instance = await store.findInstance(id, { includeDeleted: true });
        if (instance !== undefined) this.#guestOf.set(id, instance.guestId);
      }),
    );
    const accepted: Pending[] = [];
    for (const pending of batch) {
      const owner = this.#guestOf.get(pending.report.instanceId);
      if (owner === undefined) {
        this.metrics.unknownInstance++;
      } else if (owner !== pending.guestId) {
        this.metrics.identityMismatch++;
        this.#log.warn(
          { instanceId: pending.report.instanceId, guestId: pending.guestId },
          'rejected a heartbeat sent under another guest identity',
        );
      } else {
        accepted.push(pending);
      }
    }
    if (accepted.length === 0) return;
    // One lock order for every batch (by instance id; a stable sort keeps each instance's own order), so
    // concurrent batches on PostgreSQL wait for each other instead of deadlocking.
    accepted.sort((a, b) =>
      a.report.instanceId < b.report.instanceId ? -1 : a.report.instanceId > b.report.instanceId ? 1 : 0,
    );
    const results = await store.applyServiceStatuses(accepted.map((p) => p.report));
    const at = new Date().toISOString();
    results.forEach((result, index) => {
      const pending = accepted[index];
      if (pending === undefined) return;
      if (!result.applied) {
        if (result.reason === 'stale') this.metrics.stale++;
        else if (result.reason === 'deleted') this.metrics.deleted++;
        else this.metrics.unknownInstance++;
        return;
      }
      this.metrics.applied++;
      events.publish({
        kind: 'service-status',
        instanceId: result.instanceId,
        status: result.status ?? pending.report.status,
        previousStatus: result.previousStatus,
        bootId: pending.report.bootId,
        seq: pending.report.seq,
        at,
      });
    });
  }

  /** Marks guests silent for longer than the heartbeat expiry. Runs on a timer; public for tests. */
  async sweep(): Promise<number> {
    if (this.#sweeping) return 0;
    this.#sweeping = true;
    const { store } = this.#options;
    let marked = 0;
    try {
      const silent = await store.listSilentInstances({ silentSince: Date.now() - this.heartbeatExpiryMs });
      for (const instance of silent) {
        // A task that is rebooting or building the guest owns that silence, and has its own deadline.
        if (instance.taskStatus !== 'NONE' && instance.taskStatus !== 'RESTART_REQUIRED') continue;
        if (await this.#markGone(instance.id, instance.version, 'sweep')) marked++;
      }
      this.metrics.sweptTimeouts += marked;
    } catch (error) {
      this.#log.error({ err: error }, 'heartbeat sweep failed');
    } finally {
      this.#sweeping = false;
    }
    return marked;
  }

  async #onDeath(guestId: string, bootId: string): Promise<void> {
    const { store } = this.#options;
    try {
      const instance = await store.findInstance(guestId);
      if (instance === undefined || instance.guestId !== guestId) return;
      if (instance.lastBootId !== bootId) {
        // The will of a boot that is not the last one we heard from: late, and about a guest long restarted.
        this.metrics.staleDeaths++;
        return;
      }
      if (instance.taskStatus !== 'NONE' && instance.taskStatus !== 'RESTART_REQUIRED') return;
      if (await this.#markGone(instance.id, instance.version, 'will')) this.metrics.deaths++;
    } catch (error) {
      this.#log.error({ err: error, guestId }, 'handling a last will failed');
    }
  }

  /** Writes FAILED_TIMEOUT_GUESTAGENT unless the instance changed since it was read (a heartbeat won the race). */
  async #markGone(instanceId: string, version: number, why: 'sweep' | 'will'): Promise<boolean> {
    try {
      const updated = await this.#options.store.updateInstance(
        instanceId,
        { serviceStatus: 'FAILED_TIMEOUT_GUESTAGENT' },
        { expectedVersion: version },
      );
      this.#log.warn({ instanceId, why }, 'guest agent silent: marked FAILED_TIMEOUT_GUESTAGENT');
      this.#options.events.publish({
        kind: 'service-status',
        instanceId,
        status: updated.serviceStatus,
        at: new Date().toISOString(),
      });
      return true;
    } catch (error) {
      if (error instanceof StoreConflictError) return false;
      throw error;
    }
  }

  /** Feeds a state message (birth / will) into presence; `control-plane.ts` subscribes the transport to it. */
  onState(guestId: string, message: StateMessage): void {
    this.#options.presence.apply(guestId, message);
  }
}
