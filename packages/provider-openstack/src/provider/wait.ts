import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderTimeoutError, ProvisioningFailedError, type Server, type ServerStatus } from '@corral/core/contract';
import { PROVIDER_NAME } from '../common/errors.js';
import { pollUntilGone } from '../common/poll.js';

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Polls until the server reaches `target`. ERROR ends the wait at once with Nova's fault in a
 * ProvisioningFailedError; running out of time is a ProviderTimeoutError naming the last status.
 */
export async function waitForStatus(
  get: (id: string, signal?: AbortSignal) => Promise<Server>,
  id: string,
  target: ServerStatus,
  options: WaitOptions = {},
): Promise<Server> {
  const deadline = Date.now() + (options.timeoutMs ?? 300_000);
  const interval = options.intervalMs ?? 1_000;
  for (;;) {
    const server = await get(id, options.signal);
    if (server.status === target) return server;
    if (server.status === 'ERROR') {
      const fault = server.fault ?? { message: 'the server went to ERROR without a fault' };
      throw new ProvisioningFailedError(`server ${id} went to ERROR: ${fault.message.trim()}`, {
        provider: PROVIDER_NAME,
        fault,
        serverId: id,
      });
    }
    if (Date.now() + interval > deadline) {
      throw new ProviderTimeoutError(`server ${id} still ${server.status} after waiting for ${target}`, {
        provider: PROVIDER_NAME,
      });
    }
    await sleep(interval, undefined, { signal: options.signal });
  }
}

/**
 * Polls until GET answers 404. Nova's own status is wanted here (not core's): `DELETED` is the moment
 * between the compute marking the instance deleted and its row being destroyed — still listed, so the wait
 * goes on; `SOFT_DELETED` (a cloud with deferred delete) is as gone as it will get until Nova reclaims it.
 */
export async function waitForGone(
  get: (id: string, signal?: AbortSignal) => Promise<{ status: string }>,
  id: string,
  options: WaitOptions = {},
): Promise<void> {
  await pollUntilGone((signal) => get(id, signal), `server ${id}`, {
    timeoutMs: options.timeoutMs ?? 120_000,
    intervalMs: options.intervalMs ?? 500,
    signal: options.signal,
    verdict: (status) => (status === 'SOFT_DELETED' ? 'gone' : undefined),
  });
}
