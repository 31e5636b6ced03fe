import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type AgentConfig, type GuestMethodName, guestMethodNames, guestMethods } from '@corral/core/contract';
import {
  conductorTopic,
  createMqttTransport,
  guestIdentity,
  type MethodHandlers,
  type MethodRegistry,
  type MqttTransport,
  rpcTopic,
} from '@corral/core/messaging';
import { AgentError } from './errors.js';
import { heartbeatArgs } from './heartbeat.js';
import { resolveIdentity } from './identity.js';
import { Journal } from './journal/journal.js';
import type { Logger } from './log.js';
import type { DatastoreManager } from './manager/types.js';
import { compactWhenIdle } from './memory.js';
import { createManager } from './registry.js';
import { Dispatcher, type Notify } from './rpc/dispatcher.js';
import type { Timeline } from './timeline.js';
import { DataVolume } from './volume/volume.js';

/** How long `stop()` waits for requests under way to finish before it closes the journal. */
const SETTLE_ON_STOP_MS = 5_000;

export interface AgentOptions {
  config: AgentConfig;
  logger: Logger;
  bootId?: string;
  /** Stamps the steps of the start (the boot timeline); none in tests. */
  timeline?: Timeline;
}

/**
 * The guest agent: identity → manager from the registry → MQTT connection (birth + last will from the transport)
 * → a first heartbeat at once, before any prepare → a heartbeat every `heartbeatIntervalSeconds`, and one as soon
 * as the manager reports a change (a crashed datastore is seen within the interval, usually at once).
 */
export class Agent {
  readonly bootId: string;
  private transport: MqttTransport | undefined;
  private manager: DatastoreManager | undefined;
  private dispatcher: Dispatcher | undefined;
  private journal: Journal | undefined;
  private volume: DataVolume | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sentFirst = false;
  private beating: Promise<void> | undefined;
  private beatAgain = false;
  private stopped = false;

  constructor(private readonly options: AgentOptions) {
    this.bootId = options.bootId ?? randomUUID();
  }

  private get config(): AgentConfig {
    return this.options.config;
  }

  /** Starts everything; resolves once connected. Throws BROKER_UNREACHABLE after `connectTimeoutSeconds`. */
  async start(): Promise<void> {
    const { config } = this;
    const logger = this.options.logger;
    mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
    this.journal = Journal.open(join(config.stateDir, 'journal.jsonl'), this.bootId);

    let managerError: AgentError | undefined;
    try {
      const dir = join(config.stateDir, config.datastore.manager);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // The data volume is mounted on the manager's directory. A rebooted guest finds it again here, before
      // the manager reads its state, so a prepared datastore restarts from the volume by itself.
      this.volume = new DataVolume({
        instanceId: config.instanceId,
        mountPoint: dir,
        stateDir: config.stateDir,
        logger: logger.child({ component: 'volume' }),
      });
      await this.volume.resume().catch((error: unknown) => {
        logger.error({ err: (error as Error).message }, 'data volume found but not mounted');
      });
      this.manager = await createManager(
        config.datastore.manager,
        {
          dir,
          stateDir: config.stateDir,
          datastore: config.datastore,
          logger: logger.child({ manager: config.datastore.manager }),
          statusChanged: () => this.beatSoon(),
        },
        config.managers,
      );
      await this.manager.init();
    } catch (error) {
      // Reported as FAILED on every heartbeat (the control plane learns it at once), not a silent exit.
      managerError =
        error instanceof AgentError ? error : new AgentError('MANAGER_LOAD_FAILED', (error as Error).message);
      this.manager = undefined;
      logger.error({ code: managerError.code, error: managerError.message }, 'no datastore manager');
    }
    this.dispatcher = new Dispatcher({
      journal: this.journal,
      manager: this.manager,
      ...(managerError ? { managerError } : {}),
      managerName: config.datastore.manager,
      instanceId: config.instanceId,
      stateDir: config.stateDir,
      logger,
      notify: this.notify,
      ...(this.volume ? { volume: this.volume } : {}),
    });

    const identity = await resolveIdentity(config, logger);
    logger.info({ source: identity.source }, 'identity ready');
    const transport = createMqttTransport({
      url: config.broker.url,
      ca: config.broker.caPem,
      cert: identity.certPem,
      key: identity.keyPem,
      identity: guestIdentity(config.guestId),
      bootId: this.bootId,
      logger: logger.child({ component: 'mqtt' }),
      connectTimeoutMs: Math.min(10_000, config.broker.connectTimeoutSeconds * 1000),
    });
    this.transport = transport;
    transport.onStatus((status) => {
      logger.info({ status }, 'broker connection');
      if (status === 'connected') {
        this.options.timeline?.mark('connected (mutual TLS, MQTT CONNACK, birth sent)');
        this.beatSoon();
      }
    });
    const dispatcher = this.dispatcher;
    const handlers: MethodHandlers<MethodRegistry> = {};
    for (const method of guestMethodNames as GuestMethodName[]) {
      handlers[method] = (args, context) => {
        if (method === 'prepare') this.options.timeline?.mark('prepare received');
        return dispatcher.dispatch(method, args as Record<string, unknown>, context.messageId);
      };
    }
    // The contract's schemas validate every request's args and every result, on this side too.
    await transport.handle(rpcTopic(config.guestId), guestMethods as unknown as MethodRegistry, handlers);
    try {
      await transport.waitUntilConnected(config.broker.connectTimeoutSeconds * 1000);
    } catch (error) {
      await this.stop();
      throw new AgentError(
        'BROKER_UNREACHABLE',
        `broker ${config.broker.url} unreachable for ${config.broker.connectTimeoutSeconds} s: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.options.timeline?.mark('subscribed');
    this.timer = setInterval(() => this.beatSoon(), config.heartbeatIntervalSeconds * 1000);
    await this.beatSoon();
    compactWhenIdle();
  }

  /** Casts a conductor message (outcomes of casts); queued by the transport while offline. */
  private readonly notify: Notify = (method, args) => {
    const transport = this.transport;
    if (!transport || this.stopped) return;
    if (method === 'status_report') this.options.timeline?.mark('datastore started (prepare reported)');
    // An outcome ends a piece of work (a prepare, a restart): what it allocated is garbage now.
    compactWhenIdle();
    transport
      .cast(conductorTopic(this.config.guestId), method, args)
      .catch((error: unknown) =>
        this.options.logger.warn({ method, err: (error as Error).message }, 'conductor message not sent'),
      );
  };

  /** Sends a heartbeat now; calls made while one is being sent coalesce into one more. */
  beatSoon(): Promise<void> {
    if (this.stopped || !this.transport || !this.dispatcher) return Promise.resolve();
    if (this.beating) {
      this.beatAgain = true;
      return this.beating;
    }
    this.beating = this.beat().finally(() => {
      this.beating = undefined;
      if (this.beatAgain) {
        this.beatAgain = false;
        void this.beatSoon();
      }
    });
    return this.beating;
  }

  private async beat(): Promise<void> {
    const transport = this.transport;
    const dispatcher = this.dispatcher;
    if (!transport || !dispatcher || !transport.connected) return;
    const report = await dispatcher.status();
    const volume = await this.volume?.stats().catch(() => undefined);
    const first = !this.sentFirst;
    this.sentFirst = true;
    try {
      await transport.cast(
        conductorTopic(this.config.guestId),
        'heartbeat',
        heartbeatArgs(this.config.instanceId, report, first, volume),
        {
          ttlMs: Math.max(30_000, this.config.heartbeatIntervalSeconds * 3000),
        },
      );
      this.options.logger.debug({ status: report.status }, 'heartbeat');
      this.options.timeline?.mark('first heartbeat sent');
      if (report.status === 'HEALTHY') this.options.timeline?.mark('HEALTHY heartbeat sent');
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, 'heartbeat not sent');
    }
  }

  /** Stops timers and the connection (a clean close publishes the death); the datastore keeps running. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    await this.beating?.catch(() => undefined);
    // A request still running records its outcome before the journal closes (a `done` line, not an
    // interrupted one on the next start); one that takes longer is reported as interrupted then.
    await this.dispatcher?.settle(SETTLE_ON_STOP_MS);
    await this.transport?.close().catch(() => undefined);
    await this.manager?.close().catch(() => undefined);
    this.journal?.close();
  }
}
