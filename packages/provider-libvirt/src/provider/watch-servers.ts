import type { CallOptions, ServerChangeHint } from '@corral/core/contract';
import { uuidToString } from '../api/domains.js';
import type { Libvirt } from '../api/index.js';
import { untilAborted } from '../rpc/abort.js';

interface WatchServersInput {
  signal?: CallOptions['signal'];
  libvirt(): Promise<Libvirt>;
  /** Whether a domain of this name is one of this provider's servers. */
  isOurs(domainName: string): boolean;
  /** Hints kept for a slow reader before the oldest are dropped (a poll covers what is lost). */
  highWaterMark?: number;
}

/** libvirt's VIR_DOMAIN_EVENT_* lifecycle events, named for logs. */
const LIFECYCLE_EVENTS = [
  'defined',
  'undefined',
  'started',
  'suspended',
  'resumed',
  'stopped',
  'shutdown',
  'pmsuspended',
  'crashed',
] as const;

/**
 * A hint per lifecycle event of any of this provider's domains, from one libvirt event callback for all of
 * them (the connection registers it once, and again after a reconnect). Throws when libvirtd cannot be
 * reached (the dial and the registration have the client's deadlines); ends at once when the signal aborts,
 * even while connecting. Events that fire while the connection is down are lost: the caller
 * polls as well.
 */
export async function* watchServers(input: WatchServersInput): AsyncGenerator<ServerChangeHint> {
  const highWaterMark = input.highWaterMark ?? 10_000;
  const queue: ServerChangeHint[] = [];
  let wake: (() => void) | undefined;
  const nudge = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const subscribe = async () => {
    const lv = await untilAborted(input.libvirt(), input.signal, 'connecting to libvirtd');
    return lv.connection.onLifecycle(
      (event) => {
        if (!input.isOurs(event.dom.name)) return;
        queue.push({
          serverId: uuidToString(event.dom.uuid),
          event: LIFECYCLE_EVENTS[event.event] ?? `event-${event.event}`,
        });
        if (queue.length > highWaterMark) queue.shift();
        nudge();
      },
      { signal: input.signal },
    );
  };
  let unsubscribe: () => void;
  try {
    unsubscribe = await subscribe();
  } catch (error) {
    if (input.signal?.aborted) return; // stopped while connecting: the stream simply ends
    throw error;
  }
  input.signal?.addEventListener('abort', nudge);
  try {
    while (!input.signal?.aborted) {
      const hint = queue.shift();
      if (hint !== undefined) {
        yield hint;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    input.signal?.removeEventListener('abort', nudge);
    unsubscribe();
  }
}
