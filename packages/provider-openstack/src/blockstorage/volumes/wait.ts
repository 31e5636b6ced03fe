import { setTimeout as sleep } from 'node:timers/promises';
import { BadRequestError, NotFoundError, ProviderTimeoutError, ProvisioningFailedError } from '@corral/core/contract';
import { PROVIDER_NAME } from '../../common/errors.js';
import type { ServiceClient } from '../../common/http.js';
import { pollUntilGone } from '../../common/poll.js';
import { deleteVolume, getVolume } from './requests.js';
import type { Volume } from './results.js';

export interface VolumeWaitOptions {
  /** Default 120 s. */
  timeoutMs?: number;
  /** Default 500 ms. */
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Polls a volume until it reaches `status` (e.g. `available`, `in-use`). Any `error*` status ends the wait
 * at once with a ProvisioningFailedError; running out of time is a ProviderTimeoutError naming the last status.
 */
export async function waitForVolumeStatus(
  volume: ServiceClient,
  id: string,
  status: string,
  options: VolumeWaitOptions = {},
): Promise<Volume> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const interval = options.intervalMs ?? 500;
  for (;;) {
    const current = await getVolume(volume, id, options.signal);
    if (current.status === status) return current;
    if (current.status.startsWith('error')) {
      const message = `volume ${id} went to ${current.status} while waiting for ${status}`;
      throw new ProvisioningFailedError(message, { provider: PROVIDER_NAME, fault: { message } });
    }
    if (Date.now() + interval > deadline) {
      throw new ProviderTimeoutError(`volume ${id} still ${current.status} after waiting for ${status}`, {
        provider: PROVIDER_NAME,
      });
    }
    await sleep(interval, undefined, { signal: options.signal });
  }
}

/**
 * Polls until GET answers 404: Cinder's DELETE only starts the deletion (202, then `deleting`).
 * `error_deleting` ends the wait with a ProvisioningFailedError.
 */
export async function waitForVolumeGone(
  volume: ServiceClient,
  id: string,
  options: VolumeWaitOptions = {},
): Promise<void> {
  await pollUntilGone((signal) => getVolume(volume, id, signal), `volume ${id}`, {
    timeoutMs: options.timeoutMs ?? 120_000,
    intervalMs: options.intervalMs ?? 500,
    signal: options.signal,
    verdict: (status) => (status === 'error_deleting' ? { failed: `volume ${id} went to error_deleting` } : undefined),
  });
}

/**
 * Deletes a volume and waits for the 404. Cinder refuses (400) to delete a volume in a transitional
 * status (`creating`, `attaching`, `detaching`…); such a refusal is retried until the deadline, so an
 * undo right after a create still removes the volume. A volume already gone counts as done.
 */
export async function deleteVolumeAndWait(
  volume: ServiceClient,
  id: string,
  options: VolumeWaitOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await deleteVolume(volume, id, options.signal);
      break;
    } catch (error) {
      if (error instanceof NotFoundError) return;
      if (!(error instanceof BadRequestError) || Date.now() + 1_000 > deadline) throw error;
    }
    await sleep(1_000, undefined, { signal: options.signal });
  }
  await waitForVolumeGone(volume, id, { ...options, timeoutMs: Math.max(1_000, deadline - Date.now()) });
}
