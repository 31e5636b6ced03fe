import { randomUUID } from 'node:crypto';
import { AgentConfigSchema } from '../guest/agent-config.js';
import { decodeAgentUserData } from '../guest/agent-user-data.js';
import { guestMethods } from '../guest/contract.js';
import { guestIdentity } from '../messaging/identity.js';
import { HandlerError, type MethodRegistry } from '../messaging/registry.js';
import { conductorTopic, rpcTopic } from '../messaging/topics.js';
import { MqttTransport } from '../messaging/transport.js';
import { NotFoundError } from '../provider/errors.js';
import type { Provider, Server } from '../provider/types.js';
import type { ServiceStatus } from '../status/service-status.js';

/**
 * A fake guest agent for tests: it reads the agent config out of the bootstrap user-data the task manager
 * made, connects to the REAL broker with the REAL guest certificate in it, publishes its birth, serves the
 * guest contract's methods and casts heartbeats to the conductor, exactly as `corral-agent` does. What it
 * does not do is run a datastore: prepare just flips the status.
 *
 * Failure injection by instance name, as Trove's `tests/fakes/nova.py` does (a name may carry several):
 *   `never-connects`      the guest never comes up (the build times out);
 *   `prepare-fails`       prepare ends FAILED (BUILDING_ERROR_PREPARE);
 *   `dies-after-prepare`  the agent goes away once HEALTHY, publishing its death (the last will's path);
 *   `goes-silent`         once HEALTHY, heartbeats stop (the sweep's path);
 *   `restart-fails`       `restart` answers with an error;
 *   `stop-hangs`          `stop_db` never answers (best-effort stop must not block a delete);
 *   `no-reboot-return`    after a reboot or resize the guest does not come back.
 */

export const fakeGuestFailures = [
  'never-connects',
  'prepare-fails',
  'dies-after-prepare',
  'goes-silent',
  'restart-fails',
  'stop-hangs',
  'no-reboot-return',
] as const;
export type FakeGuestFailure = (typeof fakeGuestFailures)[number];

export function failuresInName(name: string): Set<FakeGuestFailure> {
  return new Set(fakeGuestFailures.filter((failure) => name.includes(failure)));
}

const guestRegistry = Object.fromEntries(
  Object.entries(guestMethods).map(([name, spec]) => [name, { args: spec.args, result: spec.result }]),
) as MethodRegistry;

export interface FakeGuestOptions {
  /** The bootstrap user-data (`#cloud-config` with the agent config). */
  userData: string;
  /** The instance (server) name: failure injection reads it. */
  name: string;
  /** The guest sees the broker at 10.0.2.2; a fake guest on the host connects here instead. */
  brokerUrl?: string;
  /** Heartbeat interval; default the config's. */
  heartbeatMs?: number;
  /** Whether prepare already ran in an earlier boot (its "disk"). */
  prepared?: boolean;
  /** How long prepare "takes" (default 20 ms). */
  prepareMs?: number;
}

export class FakeGuest {
  readonly guestId: string;
  readonly instanceId: string;
  readonly failures: Set<FakeGuestFailure>;
  prepared: boolean;
  status: ServiceStatus;
  #transport: MqttTransport | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #options: FakeGuestOptions;
  readonly #config: ReturnType<typeof AgentConfigSchema.parse>;
  readonly #seen = new Set<string>();

  constructor(options: FakeGuestOptions) {
    this.#options = options;
    this.#config = AgentConfigSchema.parse(decodeAgentUserData(options.userData));
    this.guestId = this.#config.guestId;
    this.instanceId = this.#config.instanceId;
    this.failures = failuresInName(options.name);
    this.prepared = options.prepared ?? false;
    this.status = this.prepared ? 'HEALTHY' : 'INSTANCE_READY';
  }

  get connected(): boolean {
    return this.#transport?.connected ?? false;
  }

  /** Boots: connects (birth), subscribes its rpc topic, starts heartbeats. */
  async start(): Promise<void> {
    if (this.failures.has('never-connects')) return;
    const { broker } = this.#config;
    if (broker.certPem === undefined || broker.keyPem === undefined) throw new Error('fake guest needs a certificate');
    const transport = new MqttTransport({
      url: this.#options.brokerUrl ?? broker.url,
      ca: broker.caPem,
      cert: broker.certPem,
      key: broker.keyPem,
      identity: guestIdentity(this.guestId),
      bootId: randomUUID(),
      protocolVersion: 'auto',
      connectTimeoutMs: 5_000,
      backoff: { initialMs: 50, maxMs: 1_000 },
    });
    this.#transport = transport;
    await transport.handle(rpcTopic(this.guestId), guestRegistry, {
      prepare: (args: unknown) => this.#prepare((args as { requestId?: string }).requestId),
      rpc_ping: () => true,
      restart: async () => {
        if (this.failures.has('restart-fails')) throw new HandlerError('RESTART_FAILED', 'injected: restart fails');
        await this.#report('RESTARTING');
        await sleep(10);
        await this.#report('HEALTHY');
        return null;
      },
      stop_db: async () => {
        if (this.failures.has('stop-hangs')) await sleep(3_600_000);
        await this.#report('SHUTDOWN');
        return null;
      },
      start_db: async () => {
        await this.#report('HEALTHY');
        return null;
      },
      update_overrides: () => null,
      apply_overrides: () => null,
    });
    await transport.waitUntilConnected(10_000);
    await this.#heartbeat();
    const interval = this.#options.heartbeatMs ?? this.#config.heartbeatIntervalSeconds * 1000;
    this.#timer = setInterval(() => void this.#heartbeat().catch(() => undefined), interval);
  }

  /** Shuts down; `death` publishes the retained death first (as a clean agent exit or a broker-sent will). */
  async stop(options: { death?: boolean } = {}): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const transport = this.#transport;
    this.#transport = undefined;
    await transport?.close({ publishDeath: options.death ?? true });
  }

  async #prepare(requestId: string | undefined): Promise<null> {
    // A prepare cast twice (QoS 1, a resumed task) runs once.
    if (requestId !== undefined) {
      if (this.#seen.has(requestId)) return null;
      this.#seen.add(requestId);
    }
    if (this.prepared) {
      await this.#report('HEALTHY');
      return null;
    }
    await this.#report('BUILDING');
    await sleep(this.#options.prepareMs ?? 20);
    if (this.failures.has('prepare-fails')) {
      await this.#report('FAILED');
      return null;
    }
    this.prepared = true;
    await this.#report('HEALTHY');
    if (this.failures.has('dies-after-prepare')) setTimeout(() => void this.stop({ death: true }), 50);
    if (this.failures.has('goes-silent')) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    return null;
  }

  async #report(status: ServiceStatus): Promise<void> {
    this.status = status;
    await this.#transport?.cast(conductorTopic(this.guestId), 'status_report', {
      instanceId: this.instanceId,
      serviceStatus: status,
    });
  }

  async #heartbeat(): Promise<void> {
    await this.#transport?.cast(conductorTopic(this.guestId), 'heartbeat', {
      instanceId: this.instanceId,
      serviceStatus: this.status,
    });
  }
}

export interface FakeGuestFleetOptions {
  /** Where fake guests connect (the host's view of the broker). */
  brokerUrl: string;
  heartbeatMs?: number;
  prepareMs?: number;
}

/**
 * Boots a fake guest for each server a provider makes, and follows the server's life: delete stops it,
 * reboot and resize restart it (a new boot id; what prepare did survives, like a disk). Wrap any provider
 * (the FakeProvider, or its loopback HTTP client in the crash tests) with `fleet.wrap(provider)`.
 */
export class FakeGuestFleet {
  readonly guests = new Map<string, FakeGuest>();
  readonly #boots = new Map<string, { userData: string; name: string }>();

  constructor(private readonly options: FakeGuestFleetOptions) {}

  async boot(serverId: string, name: string, userData: string, prepared = false): Promise<void> {
    this.#boots.set(serverId, { userData, name });
    const guest = new FakeGuest({
      userData,
      name,
      brokerUrl: this.options.brokerUrl,
      heartbeatMs: this.options.heartbeatMs,
      prepareMs: this.options.prepareMs,
      prepared,
    });
    this.guests.set(serverId, guest);
    await guest.start();
  }

  /** Boots the server's guest once, when the server runs (a server that ends in ERROR never has one). */
  #bootOnce(provider: Provider, server: Server, name: string, userData: string): void {
    if (server.status === 'ERROR' || this.#boots.has(server.id)) return;
    this.#boots.set(server.id, { userData, name });
    void (async () => {
      if (!(await this.#untilRunning(provider, server.id))) return;
      await this.boot(server.id, name, userData);
    })().catch(() => undefined);
  }

  async #untilRunning(provider: Provider, serverId: string): Promise<boolean> {
    for (let i = 0; i < 3_000; i++) {
      // Only a server that is gone never boots; a provider error (5xx, 429) is a failed look, not a verdict.
      const server = await provider.getServer(serverId).catch((error: unknown) => {
        if (error instanceof NotFoundError) return undefined;
        return { status: 'UNKNOWN' } as const;
      });
      if (server === undefined || server.status === 'ERROR' || server.status === 'DELETED') return false;
      if (server.status === 'ACTIVE') return true;
      await sleep(10);
    }
    return false;
  }

  async kill(serverId: string): Promise<void> {
    const guest = this.guests.get(serverId);
    this.guests.delete(serverId);
    await guest?.stop({ death: true });
  }

  async reboot(serverId: string): Promise<void> {
    const boot = this.#boots.get(serverId);
    const before = this.guests.get(serverId);
    await this.kill(serverId);
    if (boot === undefined || failuresInName(boot.name).has('no-reboot-return')) return;
    await this.boot(serverId, boot.name, boot.userData, before?.prepared ?? false);
  }

  /** The guest goes down at once and boots again only once its server runs (never if the server fails). */
  async #rebootWhenRunning(provider: Provider, serverId: string): Promise<void> {
    const boot = this.#boots.get(serverId);
    const prepared = this.guests.get(serverId)?.prepared ?? false;
    await this.kill(serverId).catch(() => undefined);
    if (!(await this.#untilRunning(provider, serverId))) return;
    if (boot === undefined || failuresInName(boot.name).has('no-reboot-return')) return;
    await this.boot(serverId, boot.name, boot.userData, prepared).catch(() => undefined);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.guests.keys()].map((id) => this.kill(id)));
  }

  /** A provider that boots fake guests for the servers it makes. */
  wrap(provider: Provider): Provider {
    // Delegate explicitly: a provider is usually a class, whose methods a spread would not copy.
    const wrapped: Provider = {
      specificationVersion: provider.specificationVersion,
      name: provider.name,
      capabilities: provider.capabilities,
      getServer: (id, o) => provider.getServer(id, o),
      findServerByIdempotencyKey: (key, o) => provider.findServerByIdempotencyKey(key, o),
      listServers: (o) => provider.listServers(o),
      listFlavors: (o) => provider.listFlavors(o),
      listImages: (o) => provider.listImages(o),
      ...(provider.watchServer && {
        watchServer: (id: string, o: Parameters<NonNullable<Provider['watchServer']>>[1]) =>
          (provider.watchServer as NonNullable<Provider['watchServer']>).call(provider, id, o),
      }),
      close: async () => provider.close?.(),
      createServer: async (request, callOptions): Promise<Server> => {
        // A server the provider made boots its guest even when the create's answer was lost (an error after
        // the server was made): the retry finds the server, and its guest is already booting.
        const server = await provider.createServer(request, callOptions).catch(async (error: unknown) => {
          const made = await provider.findServerByIdempotencyKey(request.idempotencyKey, callOptions);
          if (made !== undefined) this.#bootOnce(provider, made, request.name, request.bootstrap.userData);
          throw error;
        });
        this.#bootOnce(provider, server, request.name, request.bootstrap.userData);
        return server;
      },
      deleteServer: async (id, callOptions) => {
        await this.kill(id);
        await provider.deleteServer(id, callOptions);
      },
      rebootServer: async (id, callOptions) => {
        await provider.rebootServer(id, callOptions);
        void this.#rebootWhenRunning(provider, id);
      },
      resizeServer: async (id, flavor, callOptions) => {
        await provider.resizeServer(id, flavor, callOptions);
        void this.#rebootWhenRunning(provider, id);
      },
    };
    return wrapped;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
