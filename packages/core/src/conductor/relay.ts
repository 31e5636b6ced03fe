import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import type { StatusEvent, StatusEventBus } from '../instance/events.js';
import type { MethodRegistry } from '../messaging/registry.js';
import { TOPIC_PREFIX } from '../messaging/topics.js';
import type { MqttTransport } from '../messaging/transport.js';

/**
 * Carries status events and task wake-ups between control-plane processes (split deployments: API, task
 * managers and conductors in different processes) over an MQTT service topic, `corral/v1/service/events`.
 *
 * Why MQTT and not PostgreSQL LISTEN/NOTIFY: every process already holds a broker connection with a service
 * identity, the path works the same over SQLite (several processes on one host) and PostgreSQL, and it needs
 * nothing from the store. Only services may publish or subscribe there (guests' ACL is their own subtree).
 * Events are hints, never the truth: a waiter reads the store once after subscribing, and workers look at the
 * task table every idle interval, so a lost relay message delays, never loses.
 */
export const SERVICE_EVENTS_TOPIC = `${TOPIC_PREFIX}/service/events`;

const StatusEventSchema = z.union([
  z.object({
    kind: z.literal('service-status'),
    instanceId: z.string(),
    status: z.string(),
    previousStatus: z.string().optional(),
    bootId: z.string().optional(),
    seq: z.number().optional(),
    at: z.string(),
  }),
  z.object({
    kind: z.literal('instance-changed'),
    instanceId: z.string(),
    taskStatus: z.string().optional(),
    deleted: z.boolean().optional(),
    at: z.string(),
  }),
]);

const relayMethods = {
  status: { args: z.object({ origin: z.string(), event: StatusEventSchema }) },
  task: { args: z.object({ origin: z.string(), taskId: z.string() }) },
} satisfies MethodRegistry;

export interface EventRelayOptions {
  transport: MqttTransport;
  events: StatusEventBus;
  /** Called when another process cast a task. */
  onTask?: (taskId: string) => void;
  /**
   * Which local events go to other processes. Default: status changes, and every instance change; a heartbeat
   * that repeats a status stays local (at 20 000 heartbeats/s, forwarding each would flood the broker).
   */
  forward?: (event: StatusEvent) => boolean;
}

export class EventRelay {
  readonly origin = randomUUID();
  readonly #options: EventRelayOptions;
  #off: (() => void) | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;

  constructor(options: EventRelayOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    const { transport, events } = this.#options;
    this.#unsubscribe = await transport.handle(SERVICE_EVENTS_TOPIC, relayMethods, {
      status: ({ origin, event }) => {
        if (origin !== this.origin) events.deliver(event);
      },
      task: ({ origin, taskId }) => {
        if (origin !== this.origin) this.#options.onTask?.(taskId);
      },
    });
    const forward =
      this.#options.forward ??
      ((event: StatusEvent) => event.kind !== 'service-status' || event.status !== event.previousStatus);
    this.#off = events.addForwarder((event) => {
      if (!forward(event)) return;
      transport.cast(SERVICE_EVENTS_TOPIC, 'status', { origin: this.origin, event }).catch(() => undefined);
    });
  }

  castTask(taskId: string): void {
    this.#options.transport.cast(SERVICE_EVENTS_TOPIC, 'task', { origin: this.origin, taskId }).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.#off?.();
    await this.#unsubscribe?.().catch(() => undefined);
  }
}
