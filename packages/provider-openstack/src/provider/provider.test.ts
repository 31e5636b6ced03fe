import {
  AuthError,
  BadRequestError,
  NotFoundError,
  ProvisioningFailedError,
  QuotaExceededError,
  UnsupportedError,
} from '@corral/core/contract';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeCloud } from '../testing/fake-cloud.js';
import { MAX_USER_DATA_BYTES } from './options.js';
import { createOpenStackProvider } from './provider.js';

let cloud: FakeCloud;
const make = (extra: Record<string, unknown> = {}) =>
  createOpenStackProvider({
    auth: {
      authUrl: cloud.authUrl,
      username: 'demo',
      password: 'secret',
      userDomainName: 'Default',
      projectName: 'demo',
      projectDomainName: 'Default',
    },
    pollIntervalMs: 20,
    recoveryWindowMs: 200,
    ...extra,
  });
const request = (key: string, extra: Record<string, unknown> = {}) => ({
  name: `srv-${key}`,
  idempotencyKey: key,
  flavor: 'm1.tiny',
  image: 'corral-test-image',
  bootstrap: { userData: '#cloud-config\n', configDrive: true },
  ...extra,
});

beforeEach(async () => {
  cloud = await new FakeCloud().start();
});
afterEach(async () => {
  await cloud.stop();
});

describe('OpenStack provider on the fake cloud', () => {
  it('creates with user_data, config drive and the key in metadata, reaches ACTIVE, reboots, deletes', async () => {
    const provider = make({ defaultNetwork: 'corral-net' });
    await provider.connect();
    const server = await provider.createServer(request('k1'));
    expect(server.status).toBe('BUILD');
    expect(server.idempotencyKey).toBe('k1');
    const post = cloud.requests.find((call) => call.method === 'POST' && call.path.endsWith('/servers'));
    const body = ((post?.body ?? {}) as { server: Record<string, unknown> }).server;
    expect(body.user_data).toBe(Buffer.from('#cloud-config\n').toString('base64'));
    expect(body.config_drive).toBe(true);
    expect(body.flavorRef).toBe('1');
    expect(body.networks).toEqual([{ uuid: cloud.networks[0]?.id }]);
    expect(body.metadata).toEqual({ corral_idempotency_key: 'k1' });
    const active = await provider.waitForServer(server.id);
    expect(active.addresses['corral-net']).toEqual(['10.0.0.5']);
    expect(await provider.getServerUserData(server.id)).toBe('#cloud-config\n');
    await provider.rebootServer(server.id);
    await provider.waitForServer(server.id);
    await provider.deleteServer(server.id);
    expect(await provider.findServerByIdempotencyKey('k1')).toBeUndefined();
  });

  it('returns the same server when create is called twice with one key', async () => {
    const provider = make();
    const first = await provider.createServer(request('twice'));
    const second = await provider.createServer(request('twice'));
    expect(second.id).toBe(first.id);
    expect(cloud.servers.size).toBe(1);
  });

  it('finds the server by key after the create answer is lost, making exactly one', async () => {
    const provider = make();
    let dropped = 0;
    cloud.intercept((call) =>
      call.method === 'POST' && call.path.endsWith('/servers') && dropped++ === 0 ? { drop: 'after' } : undefined,
    );
    const server = await provider.createServer(request('lost'));
    expect(dropped).toBe(1);
    expect(cloud.servers.size).toBe(1);
    expect(server.id).toBe([...cloud.servers.keys()][0]);
  });

  it('creates again when the lost request never made a server', async () => {
    const provider = make();
    let dropped = 0;
    cloud.intercept((call) =>
      call.method === 'POST' && call.path.endsWith('/servers') && dropped++ === 0 ? { drop: 'before' } : undefined,
    );
    const server = await provider.createServer(request('never'));
    expect(cloud.servers.size).toBe(1);
    expect(server.idempotencyKey).toBe('never');
  });

  it('refuses user_data over 65,535 bytes encoded before calling Nova', async () => {
    const provider = make();
    const big = 'x'.repeat((MAX_USER_DATA_BYTES / 4) * 3 + 3);
    await expect(provider.createServer(request('big', { bootstrap: { userData: big } }))).rejects.toThrow(
      BadRequestError,
    );
    await expect(provider.createServer(request('big', { bootstrap: { userData: big } }))).rejects.toThrow(/65535/);
    expect(cloud.requests.some((call) => call.method === 'POST' && call.path.endsWith('/servers'))).toBe(false);
  });

  it('names the broken field for an invalid request', async () => {
    await expect(make().createServer(request('bad', { name: '-bad' }))).rejects.toThrow(/name: must be/);
  });

  it('fails the wait fast with the fault when the server goes to ERROR', async () => {
    const provider = make();
    const server = await provider.createServer(request('huge', { flavor: 'm1.huge' }));
    const error = await provider.waitForServer(server.id, { timeoutMs: 5000 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProvisioningFailedError);
    expect((error as ProvisioningFailedError).fault.message).toContain('No valid host was found');
    expect((error as ProvisioningFailedError).serverId).toBe(server.id);
  });

  it('maps the quota 403 to QuotaExceededError', async () => {
    cloud.quotaInstances = 0;
    await expect(make().createServer(request('quota'))).rejects.toBeInstanceOf(QuotaExceededError);
  });

  it('makes a volume for volumeSizeGb and hands it to Nova, deleting it if the server create fails', async () => {
    const provider = make();
    const server = await provider.createServer(request('vol', { volumeSizeGb: 1 }));
    const post = cloud.requests.find((call) => call.method === 'POST' && call.path.endsWith('/servers'));
    const body = (post?.body ?? {}) as { server: { imageRef: string; block_device_mapping_v2: unknown[] } };
    // Nova wants the image as boot device 0 once a mapping is sent; the data volume comes second.
    expect(body.server.block_device_mapping_v2).toEqual([
      {
        source_type: 'image',
        destination_type: 'local',
        uuid: body.server.imageRef,
        boot_index: 0,
        delete_on_termination: true,
      },
      {
        source_type: 'volume',
        destination_type: 'volume',
        uuid: [...cloud.volumes.keys()][0],
        boot_index: -1,
        delete_on_termination: true,
      },
    ]);
    expect(server.id).toBeTruthy();
    cloud.quotaInstances = 1;
    await expect(provider.createServer(request('vol2', { volumeSizeGb: 1 }))).rejects.toBeInstanceOf(
      QuotaExceededError,
    );
    expect(cloud.volumes.size).toBe(1); // the second volume was rolled back
  });

  it('removes the volume a lost Cinder answer made, found by name and key', async () => {
    cloud.intercept((call) =>
      call.method === 'POST' && call.path.endsWith('/volumes') ? { drop: 'after' } : undefined,
    );
    // The fake lists no volumes itself; answer the lookup from its store, as Cinder would.
    cloud.intercept((call) =>
      call.method === 'GET' && call.path.endsWith('/volumes/detail')
        ? {
            status: 200,
            body: { volumes: [...cloud.volumes.values()].filter((v) => v.name === call.query.get('name')) },
          }
        : undefined,
    );
    await expect(make().createServer(request('lost-vol', { volumeSizeGb: 1 }))).rejects.toThrow();
    expect(cloud.requests.some((call) => call.method === 'POST' && call.path.endsWith('/servers'))).toBe(false);
    expect(cloud.requests.filter((call) => call.method === 'DELETE' && call.path.includes('/volumes/'))).toHaveLength(
      1,
    );
    expect(cloud.volumes.size).toBe(0);
  });

  it('refuses a volume when the catalog has no Cinder', async () => {
    await cloud.stop();
    cloud = await new FakeCloud({ withoutCinder: true }).start();
    const provider = make();
    await provider.connect();
    expect(provider.capabilities.volumes).toBe(false);
    await expect(provider.createServer(request('novol', { volumeSizeGb: 1 }))).rejects.toBeInstanceOf(UnsupportedError);
  });

  it('watches a server by polling until it is gone', async () => {
    // BUILD must last longer than a few requests take on a loaded machine, or the first state seen is ACTIVE.
    await cloud.stop();
    cloud = await new FakeCloud({ activeAfterMs: 1_000 }).start();
    const provider = make();
    const server = await provider.createServer(request('watch'));
    const seen: string[] = [];
    const controller = new AbortController();
    for await (const state of provider.watchServer?.(server.id, { signal: controller.signal, intervalMs: 10 }) ?? []) {
      seen.push(state.status);
      if (state.status === 'ACTIVE') await provider.deleteServer(server.id, {});
    }
    expect(seen[0]).toBe('BUILD');
    expect(seen).toContain('ACTIVE');
    expect(seen.at(-1)).toBe('DELETED');
  });

  it('uploads an image to Glance and lists flavors and images', async () => {
    const provider = make();
    const image = await provider.uploadImage({ name: 'up', data: Buffer.from('disk') });
    expect(image).toMatchObject({ status: 'active', sizeBytes: 4 });
    expect((await provider.listImages()).map((entry) => entry.name)).toContain('up');
    expect((await provider.listFlavors()).find((flavor) => flavor.id === '1')).toEqual({
      id: '1',
      name: 'm1.tiny',
      vcpus: 1,
      ramMb: 512,
      diskGb: 1,
    });
    await provider.deleteImage(image.id);
  });

  it('deletes the queued image when the upload fails', async () => {
    const provider = make();
    cloud.intercept((call) =>
      call.method === 'PUT' && call.path.endsWith('/file')
        ? { status: 413, body: { message: 'Image exceeds the storage quota' } }
        : undefined,
    );
    await expect(provider.uploadImage({ name: 'too-big', data: Buffer.from('disk') })).rejects.toBeInstanceOf(
      QuotaExceededError,
    );
    expect([...cloud.images.values()].map((entry) => entry.name)).not.toContain('too-big');
  });

  it('reports a re-authentication Keystone refuses with 404 as AuthError, never NotFound of the server', async () => {
    const provider = make();
    const server = await provider.createServer(request('auth-404'));
    // The application credential is deleted: Keystone answers the next token request with 404.
    cloud.revokeAllTokens();
    cloud.intercept((call) =>
      call.method === 'POST' && call.path.endsWith('/auth/tokens')
        ? { status: 404, body: { error: { code: 404, message: 'Could not find Application Credential: x.' } } }
        : undefined,
    );
    for (const call of [() => provider.getServer(server.id), () => provider.deleteServer(server.id)]) {
      const error = await call().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AuthError);
      expect(error).not.toBeInstanceOf(NotFoundError);
      expect((error as AuthError).status).toBe(404);
      expect((error as Error).message).toMatch(/^authentication failed: .*Could not find Application Credential/);
    }
    expect(cloud.servers.get(server.id)?.deletedAt).toBeUndefined();
  });
});
