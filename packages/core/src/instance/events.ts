import { EventEmitter } from 'node:events';

/**
 * Status-change events. Trove's task manager polls the service status with a back-off of up to 30 s; here
 * the conductor's write is an event, and whoever waits (a task, a caller of the instance service) reacts at
 * once. The bus is in-process; `control-plane.ts` bridges it across processes (see `event-relay.ts`).
 */

/** The guest's service status changed (written by the conductor, or by the sweep). */
export interface ServiceStatusEvent {
  kind: 'service-status';
  instanceId: string;
  status: string;
  previousStatus?: string;
  /** The (bootId, seq) the status came with; absent for sweep-made statuses. */
  bootId?: string;
  seq?: number;
  at: string;
}

/** An instance's task status or record changed (written by the task manager or the instance service). */
export interface InstanceChangedEvent {
  kind: 'instance-changed';
  instanceId: string;
  /** The task status now (NONE when idle), and whether the instance is gone. */
  taskStatus?: string;
  deleted?: boolean;
  at: string;
}

export type StatusEvent = ServiceStatusEvent | InstanceChangedEvent;

export interface StatusEventStreamOptions {
  /** Only events for this instance. */
  instanceId?: string;
  signal?: AbortSignal;
  /** Events buffered for a slow reader before the oldest are dropped (default 10 000). */
  highWaterMark?: number;
}

export class StatusEventBus {
  readonly #emitter = new EventEmitter();
  /** Hooks that forward local events to other processes (the relay); they never see relayed events again. */
  readonly #forwarders = new Set<(event: StatusEvent) => void>();

  constructor() {
    // Every waiting task listens; hundreds of concurrent creates are normal.
    this.#emitter.setMaxListeners(0);
  }

  /** Publishes an event made in this process: local listeners, then the cross-process forwarders. */
  publish(event: StatusEvent): void {
    this.deliver(event);
    for (const forward of this.#forwarders) forward(event);
  }

  /** Delivers an event that came from another process to local listeners only. */
  deliver(event: StatusEvent): void {
    this.#emitter.emit('event', event);
    this.#emitter.emit(`instance:${event.instanceId}`, event);
  }

  addForwarder(forward: (event: StatusEvent) => void): () => void {
    this.#forwarders.add(forward);
    return () => this.#forwarders.delete(forward);
  }

  /** Calls `listener` for each event (of one instance when given); returns the unsubscribe function. */
  on(listener: (event: StatusEvent) => void, instanceId?: string): () => void {
    const name = instanceId === undefined ? 'event' : `instance:${instanceId}`;
    this.#emitter.on(name, listener);
    return () => this.#emitter.off(name, listener);
  }

  /** An async iterator over events, ending when the signal aborts. */
  stream(options: StatusEventStreamOptions = {}): AsyncIterableIterator<StatusEvent> {
    const highWaterMark = options.highWaterMark ?? 10_000;
    const queue: StatusEvent[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const off = this.on((event) => {
      queue.push(event);
      if (queue.length > highWaterMark) queue.shift();
      wake?.();
    }, options.instanceId);
    const finish = () => {
      done = true;
      off();
      wake?.();
    };
    options.signal?.addEventListener('abort', finish, { once: true });
    if (options.signal?.aborted) finish();
    const iterator: AsyncIterableIterator<StatusEvent> = {
      async next() {
        while (queue.length === 0 && !done) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
        const value = queue.shift();
        if (value !== undefined) return { value, done: false };
        return { value: undefined, done: true };
      },
      async return() {
        finish();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /**
   * Resolves with the first event for `instanceId` that `match` accepts. Subscribe BEFORE reading the current
   * state from the store, then check the state once: no event can slip between the read and the wait.
   */
  waitFor<T>(
    instanceId: string,
    match: (event: StatusEvent) => T | undefined,
    options: { signal?: AbortSignal } = {},
  ): { promise: Promise<T>; cancel: () => void } {
    let off: () => void = () => {};
    let onAbort: () => void = () => {};
    const promise = new Promise<T>((resolve, reject) => {
      off = this.on((event) => {
        const result = match(event);
        if (result !== undefined) {
          off();
          options.signal?.removeEventListener('abort', onAbort);
          resolve(result);
        }
      }, instanceId);
      onAbort = () => {
        off();
        reject(options.signal?.reason ?? new Error('aborted'));
      };
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
    return {
      promise,
      cancel: () => {
        off();
        options.signal?.removeEventListener('abort', onAbort);
      },
    };
  }
}
