import { NotFoundError, ProviderTimeoutError, ProvisioningFailedError } from '@corral/core/contract';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OpenStackClient } from '../../client.js';
import type { ServiceClient } from '../../common/http.js';
import { FakeCloud } from '../../testing/fake-cloud.js';
import { createVolume, getVolume } from './requests.js';
import { deleteVolumeAndWait, waitForVolumeGone, waitForVolumeStatus } from './wait.js';

let cloud: FakeCloud;
let cinder: ServiceClient;

beforeEach(async () => {
  cloud = await new FakeCloud().start();
  const client = new OpenStackClient({
    auth: {
      authUrl: cloud.authUrl,
      username: 'demo',
      password: 'secret',
      userDomainName: 'Default',
      projectName: 'demo',
      projectDomainName: 'Default',
    },
  });
  cinder = await client.blockStorage();
});
afterEach(async () => {
  await cloud.stop();
});

const volumeCalls = (method: string) =>
  cloud.requests.filter((call) => call.method === method && /\/volumes\/[0-9a-f-]{36}$/.test(call.path)).length;

describe('volume waits', () => {
  it('waits for a status and fails fast on an error status', async () => {
    const volume = await createVolume(cinder, { size: 1, name: 'v' });
    expect((await waitForVolumeStatus(cinder, volume.id, 'available', { intervalMs: 10 })).status).toBe('available');
    cloud.intercept((request) =>
      request.method === 'GET' && request.path.endsWith(volume.id)
        ? { status: 200, body: { volume: { id: volume.id, status: 'error', size: 1 } } }
        : undefined,
    );
    const error = await waitForVolumeStatus(cinder, volume.id, 'in-use', { intervalMs: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProvisioningFailedError);
    expect((error as Error).message).toContain('went to error');
  });

  it('names the last status when time runs out', async () => {
    const volume = await createVolume(cinder, { size: 1 });
    await expect(waitForVolumeStatus(cinder, volume.id, 'in-use', { intervalMs: 10, timeoutMs: 50 })).rejects.toThrow(
      ProviderTimeoutError,
    );
  });

  it('retries a delete Cinder refuses while the volume is transitional, then waits for the 404', async () => {
    const volume = await createVolume(cinder, { size: 1 });
    let refusals = 1;
    cloud.intercept((request) => {
      if (request.method !== 'DELETE' || refusals === 0) return undefined;
      refusals--;
      const message = 'Invalid volume: Volume status must be available or error or error_restoring or error_extending';
      return { status: 400, body: { badRequest: { code: 400, message } } };
    });
    await deleteVolumeAndWait(cinder, volume.id, { intervalMs: 10, timeoutMs: 10_000 });
    expect(volumeCalls('DELETE')).toBe(2);
    await expect(getVolume(cinder, volume.id)).rejects.toBeInstanceOf(NotFoundError);
    // Already gone counts as done.
    await deleteVolumeAndWait(cinder, volume.id, { intervalMs: 10 });
    await waitForVolumeGone(cinder, volume.id, { intervalMs: 10 });
  });
});
