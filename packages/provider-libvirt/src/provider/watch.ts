import { NotFoundError, type Server } from '@corral/core/contract';
import { uuidToString } from '../api/domains.js';
import type { Libvirt } from '../api/index.js';
import { untilAborted } from '../rpc/abort.js';

interface WatchInput {
  id: string;
  signal?: AbortSignal;
  intervalMs: number;
  get(): Promise<Server>;
  libvirt(): Promise<Libvirt>;
}

/**
 * Yields the server each time its status changes: woken by libvirt lifecycle events for its domain, with a
 * slow poll as a safety net (events are lost while the connection is down). Ends after DELETED.
 */
export async function* watchServer(input: WatchInput): AsyncGenerator<Server> {
  let wake: (() => void) | undefined;
  const nudge = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const target = input.id.replace(/-/g, '').toLowerCase();
  let unsubscribe: (() => void) | undefined;
  const subscribe = async () => {
    try {
      const lv = await untilAborted(input.libvirt(), input.signal, 'connecting to libvirtd');
      unsubscribe = await lv.connection.onLifecycle(
        (event) => {
          if (uuidToString(event.dom.uuid).replace(/-/g, '') === target) nudge();
        },
        { signal: input.signal },
      );
    } catch {
      unsubscribe = undefined; // polling still works; retried on the next round
    }
  };
  input.signal?.addEventListener('abort', nudge);
  let last: string | undefined;
  try {
    while (!input.signal?.aborted) {
      if (!unsubscribe) await subscribe();
      let server: Server;
      try {
        server = await input.get();
      } catch (error) {
        if (input.signal?.aborted) return; // the read was cut short by the abort that ends the watch
        if (!(error instanceof NotFoundError)) throw error;
        if (last !== undefined) {
          yield { id: input.id, name: '', status: 'DELETED', addresses: {}, metadata: {} };
          return;
        }
        throw error;
      }
      const fingerprint = `${server.status}|${server.fault?.message ?? ''}`;
      if (fingerprint !== last) {
        last = fingerprint;
        yield server;
      }
      if (input.signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, input.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    input.signal?.removeEventListener('abort', nudge);
    unsubscribe?.();
  }
}
