import { setTimeout as sleep } from 'node:timers/promises';
import { NotFoundError, ProviderTimeoutError, ProvisioningFailedError } from '@corral/core/contract';
import { PROVIDER_NAME } from './errors.js';

export interface PollUntilGoneOptions {
  timeoutMs: number;
  intervalMs: number;
  signal?: AbortSignal;
  /**
   * Reads a status the resource shows on its way out: 'gone' ends the wait as done (as gone as it will
   * get), `{ failed }` ends it with a ProvisioningFailedError carrying that message; undefined polls on.
   */
  verdict?: (status: string) => 'gone' | { failed: string } | undefined;
}

/**
 * Polls `get` until it answers 404: OpenStack's DELETEs only start a deletion (Nova, Cinder). Running out of
 * time is a ProviderTimeoutError naming `what` and its last status.
 */
export async function pollUntilGone(
  get: (signal?: AbortSignal) => Promise<{ status: string }>,
  what: string,
  options: PollUntilGoneOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    let status: string;
    try {
      status = (await get(options.signal)).status;
    } catch (error) {
      if (error instanceof NotFoundError) return;
      throw error;
    }
    const verdict = options.verdict?.(status);
    if (verdict === 'gone') return;
    if (verdict !== undefined) {
      throw new ProvisioningFailedError(verdict.failed, {
        provider: PROVIDER_NAME,
        fault: { message: verdict.failed },
      });
    }
    if (Date.now() + options.intervalMs > deadline) {
      throw new ProviderTimeoutError(`${what} still ${status} after waiting for its deletion`, {
        provider: PROVIDER_NAME,
      });
    }
    await sleep(options.intervalMs, undefined, { signal: options.signal });
  }
}
