import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { Conductor, type ConductorOptions } from './conductor/manager.js';
import { GuestPresence } from './conductor/presence.js';
import { EventRelay } from './conductor/relay.js';
import type { DatastoreCatalog } from './datastore/catalog.js';
import {
  agentBrokerIdentity,
  type GuestEnrolmentOptions,
  type GuestIdentityMode,
  grantEnrolment,
} from './enrolment/identity.js';
import { EnrolmentTokens } from './enrolment/tokens.js';
import { encodeAgentUserData } from './guest/agent-config.js';
import { GuestApi } from './guest/api.js';
import { StatusEventBus } from './instance/events.js';
import { InstanceService } from './instance/service.js';
import { serviceIdentity } from './messaging/identity.js';
import { MqttTransport } from './messaging/transport.js';
import type { CertificateAuthority } from './pki/ca.js';
import type { RevocationList } from './pki/crl.js';
import { issueGuestCertificate } from './pki/issue.js';
import type { Provider } from './provider/types.js';
import type { Store } from './store/types.js';
import { TaskManagerApi } from './taskmanager/api.js';
import { type TaskHooks, TaskManager } from './taskmanager/manager.js';
import type { FlowDeps, FlowTimeouts, GuestIdentity, IdentityPort } from './taskmanager/tasks/deps.js';
import { allFlows } from './taskmanager/tasks/index.js';
import { storeInstancePort, storeTaskQueue } from './taskmanager/tasks/store-adapters.js';
import type { ServerWatcherTuning } from './watcher/options.js';
import { ServerWatcher } from './watcher/watcher.js';

/**
 * One entry point for control planes. The three Trove services are roles of one library:
 *   - `api`: the instance service (trove-api's model layer);
 *   - `taskmanager`: task workers (trove-taskmanager);
 *   - `conductor`: heartbeat ingest and the silent-guest sweep (trove-conductor);
 *   - `watcher`: the server watcher (watcher/), which keeps idle instances' server status true after their
 *     tasks (polling the providers, plus libvirt's lifecycle events). Trove has no such role. One per
 *     deployment is enough; several only ask the providers more often (their writes are version-checked).
 * All three in one process is the embedded default. Split them across processes (several of each) sharing a
 * PostgreSQL store and an external broker (mosquitto): tasks are claimed by lease from the store, heartbeats
 * are split by a `$share/` subscription, and status events and task wake-ups cross processes on the
 * `corral/v1/service/events` topic (conductor/relay.ts).
 *
 * Prepare delivery: the create task casts `prepare` when the guest's birth arrives on its retained state topic
 * (QoS 1). Retained births mean a guest that connected before the task (or a resumed worker) subscribed is
 * seen at once, and one that connects later triggers the cast then; the guest is subscribed to its rpc topic
 * before it publishes its birth, so the cast cannot arrive before it listens. A retained prepare on the rpc
 * topic would also reach a late guest, but it would sit in the broker holding secrets and be re-delivered on
 * every reconnect; a persistent session cannot hold messages for a guest that never connected yet.
 * A guest whose agent restarted before it was prepared (a crash mid-prepare, a reboot) comes back on a new
 * boot, INSTANCE_READY or FAILED, and the create task sends that boot prepare again (tasks/create.ts).
 */

export type ControlPlaneRole = 'api' | 'taskmanager' | 'conductor' | 'watcher';

export interface ControlPlaneBrokerOptions {
  /** How this process reaches the broker, e.g. `mqtts://127.0.0.1:8883`. */
  url: string;
  /** How guests reach it: for libvirt guests `mqtts://10.0.2.2:<port>` (QEMU's alias of the host loopback). */
  guestUrl?: string;
  /** This process's service identity (CN `service.<name>`): its certificate, key and the CA. */
  serviceName: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** 4 for aedes (MQTT 3.1.1), 5 or 'auto' for mosquitto. */
  protocolVersion?: 4 | 5 | 'auto';
  /**
   * Clean session (default true). A persistent session of a dead control-plane process would keep its member
   * of the `$share/` heartbeat group, and the broker would queue that share of every guest's heartbeats and
   * status reports for it until it returns. Heartbeats repeat, calls have deadlines, relay events are hints:
   * nothing a service receives needs the broker to hold it while the service is away.
   */
  clean?: boolean;
}

export interface CreateControlPlaneOptions {
  store: Store;
  broker: ControlPlaneBrokerOptions;
  providers: Record<string, Provider>;
  datastores: DatastoreCatalog;
  /** Needed by task workers: the CA that signs guest certificates, and the broker's revocation list if in-process. */
  pki?: { ca: CertificateAuthority; revocations?: RevocationList; guestCertificateDays?: number };
  /**
   * How guests get their identity (README "Guest identity"): `issued` (default) ships a key and certificate in
   * the bootstrap; `enrolment` ships a one-time token, and the guest sends a CSR to `enrolment.guestUrl` (an
   * endpoint from `startEnrolmentServer` with the same CA; the embedded control plane starts one).
   */
  guestIdentity?: GuestIdentityMode;
  enrolment?: GuestEnrolmentOptions;
  /** Default all four. */
  roles?: readonly ControlPlaneRole[];
  /**
   * The server watcher (role `watcher`): polling interval, mode, provider events (see ServerWatcherOptions;
   * default one round every 10 s ±20 %, `listServers` per provider, events where the provider has them).
   * `false` turns it off.
   */
  serverWatch?: ServerWatcherTuning | false;
  /** Tasks worked at once in this process (default 4). */
  workers?: number;
  logger?: Logger;
  /** Task leases (default 30 s) and how often idle workers look at the task table (default 2 s). */
  lease?: { leaseMs?: number; idleMs?: number };
  timeouts?: Partial<FlowTimeouts>;
  heartbeat?: {
    /** Written into each guest's agent config (default 10 s). */
    intervalSeconds?: number;
    /** Silent this long → FAILED_TIMEOUT_GUESTAGENT (default 6 intervals). */
    expiryMs?: number;
    sweepIntervalMs?: number;
  };
  conductor?: Pick<ConductorOptions, 'batch' | 'shareGroup'>;
  /** Extra agent settings written into the bootstrap. */
  agent?: { stateDir?: string; logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  /** Test hooks at each task step (crash tests). */
  hooks?: TaskHooks;
  /**
   * Times a step is retried after a transient provider error (5xx, 429, a lost libvirtd connection), with
   * back-off from 150 ms doubling up to 5 s (default 5, about 4.5 s; 10 rides out about 30 s of outage).
   */
  stepRetries?: number;
  /** Names this process's workers in task leases. */
  workerId?: string;
}

export interface ControlPlane {
  readonly roles: readonly ControlPlaneRole[];
  /** The instance service (role `api`; present in every process, since it only needs the store). */
  readonly instances: InstanceService;
  readonly taskManager?: TaskManager<FlowDeps>;
  readonly conductor?: Conductor;
  /** Role `watcher`, unless `serverWatch: false`. */
  readonly serverWatcher?: ServerWatcher;
  readonly events: StatusEventBus;
  readonly transport: MqttTransport;
  readonly presence: GuestPresence;
  /** Stops workers (their tasks' leases lapse and another process resumes them), the conductor, the transport. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUTS: FlowTimeouts = {
  buildMs: 15 * 60_000,
  recoverMs: 10 * 60_000,
  deleteMs: 5 * 60_000,
  guestCallMs: 60_000,
  providerPollMs: 5_000,
};

export async function createControlPlane(options: CreateControlPlaneOptions): Promise<ControlPlane> {
  const roles = options.roles ?? ['api', 'taskmanager', 'conductor', 'watcher'];
  const logger = options.logger ?? pino({ level: 'info' });
  const log = logger.child({ component: 'control-plane', roles, host: hostname() });
  const { store, providers, datastores } = options;
  const events = new StatusEventBus();
  const presence = new GuestPresence();
  const taskApi = new TaskManagerApi();

  const transport = new MqttTransport({
    url: options.broker.url,
    ca: options.broker.caPem,
    cert: options.broker.certPem,
    key: options.broker.keyPem,
    identity: serviceIdentity(options.broker.serviceName),
    protocolVersion: options.broker.protocolVersion ?? 'auto',
    clean: options.broker.clean ?? true,
    logger: logger.child({ component: 'transport' }),
  });
  const cleanups: (() => Promise<void>)[] = [];
  try {
    await transport.waitUntilConnected(10_000);

    // Instance changes made here (task status, deletion) reach waiters and callers as events.
    const offStore = store.subscribe((event) => {
      if (event.type !== 'instance') return;
      events.publish({
        kind: 'instance-changed',
        instanceId: event.instance.id,
        taskStatus: event.instance.taskStatus,
        deleted: event.instance.deletedAt !== null,
        at: new Date().toISOString(),
      });
    });
    cleanups.push(async () => offStore());

    let taskManager: TaskManager<FlowDeps> | undefined;
    const relay = new EventRelay({ transport, events, onTask: () => taskManager?.wake() });
    await relay.start();
    cleanups.push(() => relay.stop());
    taskApi.onCast((task) => {
      taskManager?.wake();
      relay.castTask(task.id);
    });

    // Births and wills: every process follows them (workers deliver prepare on a birth; the conductor acts on wills).
    cleanups.push(await transport.watchState((guestId, message) => presence.apply(guestId, message)));

    let conductor: Conductor | undefined;
    if (roles.includes('conductor')) {
      const intervalMs = (options.heartbeat?.intervalSeconds ?? 10) * 1000;
      conductor = new Conductor({
        store,
        transport,
        events,
        presence,
        logger,
        heartbeatExpiryMs: options.heartbeat?.expiryMs ?? intervalMs * 6,
        sweepIntervalMs: options.heartbeat?.sweepIntervalMs,
        ...options.conductor,
      });
      await conductor.start();
      const started = conductor;
      cleanups.push(() => started.stop());
    }

    if (roles.includes('taskmanager')) {
      const pki = options.pki;
      if (pki === undefined)
        throw new Error('createControlPlane: the taskmanager role needs `pki.ca` to issue guest certificates');
      const guestUrl = options.broker.guestUrl ?? options.broker.url;
      const enrolment = options.guestIdentity === 'enrolment' ? options.enrolment : undefined;
      if (options.guestIdentity === 'enrolment' && enrolment === undefined)
        throw new Error('createControlPlane: guestIdentity `enrolment` needs `enrolment.guestUrl`');
      const tokens = enrolment !== undefined ? EnrolmentTokens.fromCa(pki.ca) : undefined;
      const buildMs = options.timeouts?.buildMs ?? DEFAULT_TIMEOUTS.buildMs;
      const identity: IdentityPort = {
        async issue(instanceId): Promise<GuestIdentity> {
          if (enrolment !== undefined && tokens !== undefined) {
            return grantEnrolment({ store, tokens, caPem: pki.ca.certPem, options: enrolment, buildMs }, instanceId);
          }
          const instance = await store.getInstance(instanceId, { includeDeleted: true });
          const issued = await issueGuestCertificate(pki.ca, {
            guestId: instance.guestId,
            validityDays: pki.guestCertificateDays,
          });
          await store.putGuestCertificate({
            serial: issued.serial,
            guestId: instance.guestId,
            instanceId,
            issuedAt: Date.now(),
            notAfter: issued.notAfter.getTime(),
          });
          return { certPem: issued.certPem, keyPem: issued.keyPem, caPem: pki.ca.certPem, serial: issued.serial };
        },
        async revokeAll(instanceId, reason) {
          const instance = await store.getInstance(instanceId, { includeDeleted: true });
          const live = await store.listGuestCertificates({ guestId: instance.guestId, revoked: false });
          for (const certificate of live) {
            await store.revokeGuestCertificate(certificate.serial, reason);
            pki.revocations?.revoke(certificate.serial, new Date(), instance.guestId);
          }
          return live.map((certificate) => certificate.serial);
        },
      };
      const deps: FlowDeps = {
        instances: storeInstancePort(store, (ref) => datastores.getVersion(ref.type, ref.version).manager),
        provider(name) {
          const provider = providers[name];
          if (provider === undefined) throw new Error(`no provider named ${name}`);
          return provider;
        },
        identity,
        bootstrap(instance, guest) {
          return {
            userData: encodeAgentUserData({
              guestId: instance.id,
              instanceId: instance.id,
              broker: { url: guestUrl, ...agentBrokerIdentity(guest) },
              heartbeatIntervalSeconds: options.heartbeat?.intervalSeconds ?? 10,
              datastore: { manager: instance.datastore.manager, version: instance.datastore.version },
              ...(options.agent?.stateDir !== undefined && { stateDir: options.agent.stateDir }),
              ...(options.agent?.logLevel !== undefined && { logLevel: options.agent.logLevel }),
            }),
            configDrive: true,
          };
        },
        guest: new GuestApi(transport),
        presence,
        events,
        timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
        secrets: new Map(),
      };
      taskManager = new TaskManager({
        queue: storeTaskQueue(store),
        flows: allFlows,
        deps,
        logger,
        concurrency: options.workers ?? 4,
        leaseMs: options.lease?.leaseMs,
        idleMs: options.lease?.idleMs,
        hooks: options.hooks,
        workerId: options.workerId,
        stepRetries: options.stepRetries,
      });
      taskManager.start();
      const started = taskManager;
      cleanups.push(() => started.stop());
    }

    let serverWatcher: ServerWatcher | undefined;
    if (roles.includes('watcher') && options.serverWatch !== false) {
      // Its writes reach the event bus (and other processes) through the store subscription above.
      const watcher = new ServerWatcher({ ...options.serverWatch, store, providers, events, logger });
      watcher.start();
      serverWatcher = watcher;
      cleanups.push(() => watcher.stop());
    }

    const instances = new InstanceService({ store, catalog: datastores, providers, tasks: taskApi, events });
    log.info('control plane started');
    return {
      roles,
      instances,
      taskManager,
      conductor,
      serverWatcher,
      events,
      transport,
      presence,
      async close() {
        for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
        await transport.close();
      },
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await transport.close();
    throw error;
  }
}
