/**
 * Cinder on the real test cloud: scripts/setup/60-openstack.sh starts it (cinder-api on 127.0.0.1:8776 with
 * the fake volume driver, on by default) next to Keystone, Nova (fake driver) and Neutron. A catalog without
 * block-storage is a failure here, unless the cloud was set up with CORRAL_OPENSTACK_CINDER=0: then the
 * tests are skipped and the skip is named in their titles.
 */
import { BadRequestError, NotFoundError } from '@corral/core';
import { blockStorage, collect, compute, OpenStackClient, type OpenStackProvider } from '@corral/provider-openstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, DEMO_CLOUD, demoProvider, FLAVOR, IMAGE, requireCloud, unique } from './cloud.js';

await requireCloud();
const cinderOff = process.env.CORRAL_OPENSTACK_CINDER === '0';
const hasCinder = await new OpenStackClient({ cloud: DEMO_CLOUD }).hasService('block-storage');
if (!hasCinder && !cinderOff) {
  throw new Error(
    'the test cloud has no block-storage service: run bash scripts/setup/60-openstack.sh (Cinder is on by default)',
  );
}
const why = hasCinder ? '' : ' (SKIPPED: the cloud was set up with CORRAL_OPENSTACK_CINDER=0)';
if (!hasCinder) console.warn(`volumes.test.ts${why}`);

type Cinder = Awaited<ReturnType<OpenStackClient['blockStorage']>>;

const cleanup = new Cleanup();
let provider: OpenStackProvider;
let cinder: Cinder;

beforeAll(async () => {
  provider = demoProvider();
  if (!hasCinder) return;
  await provider.connect();
  cinder = await provider.client.blockStorage();
});
afterAll(() => cleanup.run());

/** Volumes of this project whose name is exactly `name` (Cinder's `name` filter is exact). */
const volumesNamed = async (name: string) =>
  (await collect(blockStorage.listVolumes(cinder, { query: { name } }))).filter((volume) => volume.name === name);

async function expectVolumeGone(id: string): Promise<void> {
  await expect(blockStorage.getVolume(cinder, id)).rejects.toBeInstanceOf(NotFoundError);
}

/** A fake-driver server with no network (ACTIVE in seconds), removed after the suite even on failure. */
async function activeServer(prefix: string, extra: { volumeSizeGb?: number } = {}) {
  const name = unique(prefix);
  const server = await provider.createServer({
    name,
    idempotencyKey: unique('key'),
    flavor: FLAVOR,
    image: IMAGE,
    network: 'none',
    bootstrap: { userData: '#cloud-config\n' },
    ...extra,
  });
  cleanup.add(`server ${server.id}`, () => provider.deleteServer(server.id));
  return { name, server: await provider.waitForServer(server.id, { timeoutMs: 90_000 }) };
}

describe(`Cinder volumes on the real cloud${why}`, () => {
  it.skipIf(!hasCinder)('the provider sees the block-storage service', () => {
    expect(provider.capabilities.volumes).toBe(true);
  });

  it.skipIf(!hasCinder)(
    'creates a volume (available), attaches it through Nova (in-use, seen by both), detaches and deletes it (404)',
    async () => {
      const name = unique('corral-vol');
      const volume = await blockStorage.createVolume(cinder, { size: 1, name, metadata: { purpose: 'test' } });
      cleanup.add(`volume ${volume.id}`, () => blockStorage.deleteVolumeAndWait(cinder, volume.id));
      expect(volume).toMatchObject({ name, size: 1 });
      const available = await blockStorage.waitForVolumeStatus(cinder, volume.id, 'available', { timeoutMs: 60_000 });
      expect(available.metadata).toMatchObject({ purpose: 'test' });
      expect(available.attachments).toEqual([]);

      const { server } = await activeServer('corral-vol-srv');
      const nova = await provider.client.compute();
      const attachment = await compute.attachVolume(nova, server.id, volume.id);
      expect(attachment).toMatchObject({ volumeId: volume.id, serverId: server.id });

      const inUse = await blockStorage.waitForVolumeStatus(cinder, volume.id, 'in-use', { timeoutMs: 60_000 });
      expect(inUse.attachments.map((entry) => entry.server_id)).toEqual([server.id]);
      const fromNova = await compute.listVolumeAttachments(nova, server.id);
      expect(fromNova.map((entry) => entry.volumeId)).toEqual([volume.id]);

      await compute.detachVolume(nova, server.id, volume.id);
      const detached = await blockStorage.waitForVolumeStatus(cinder, volume.id, 'available', { timeoutMs: 60_000 });
      expect(detached.attachments).toEqual([]);
      expect(await compute.listVolumeAttachments(nova, server.id)).toEqual([]);

      await blockStorage.deleteVolume(cinder, volume.id);
      await blockStorage.waitForVolumeGone(cinder, volume.id, { timeoutMs: 60_000 });
      await expectVolumeGone(volume.id);
    },
  );

  it.skipIf(!hasCinder)(
    'createServer with volumeSizeGb boots with the volume attached; deleting the server deletes the volume',
    async () => {
      const { name, server } = await activeServer('corral-bdm', { volumeSizeGb: 1 });
      const [volume] = await volumesNamed(`${name}-data`);
      expect(volume).toBeDefined();
      if (!volume) return;
      cleanup.add(`volume ${volume.id}`, () => blockStorage.deleteVolumeAndWait(cinder, volume.id));
      expect(volume).toMatchObject({ status: 'in-use', size: 1 });
      expect(volume.attachments.map((entry) => entry.server_id)).toEqual([server.id]);
      expect(volume.metadata.corral_idempotency_key).toBe(server.idempotencyKey);
      const nova = await provider.client.compute();
      expect((await compute.listVolumeAttachments(nova, server.id)).map((entry) => entry.volumeId)).toEqual([
        volume.id,
      ]);

      await provider.deleteServer(server.id); // waits for Nova's 404
      // delete_on_termination: Nova asks Cinder to delete the volume as it tears the server down.
      await blockStorage.waitForVolumeGone(cinder, volume.id, { timeoutMs: 60_000 });
      await expectVolumeGone(volume.id);
    },
  );

  it.skipIf(!hasCinder)(
    'a create that fails after its volume was made rolls the volume back: nothing is left behind',
    async () => {
      // Nova refuses an unknown availability zone at POST time, i.e. after the provider made the volume.
      const events: { msg: string; what?: unknown }[] = [];
      const record = (obj: Record<string, unknown>, msg = '') => events.push({ msg, what: obj.what });
      const failing = demoProvider({
        availabilityZone: unique('corral-no-such-zone'),
        logger: { debug: () => {}, info: record, warn: record },
      });
      const name = unique('corral-rollback');
      const attempt = failing.createServer({
        name,
        idempotencyKey: unique('key'),
        flavor: FLAVOR,
        image: IMAGE,
        network: 'none',
        bootstrap: { userData: 'x' },
        volumeSizeGb: 1,
      });
      await expect(attempt).rejects.toBeInstanceOf(BadRequestError);
      await expect(attempt).rejects.toThrow(/availability zone/i);
      // A volume was made (else this test would prove nothing) and undone; the undo waited for Cinder's 404,
      // so the volume is gone when createServer rejects, not still `deleting`.
      const undone = events.filter((event) => event.msg === 'rolled back').map((event) => String(event.what));
      expect(undone).toEqual([expect.stringMatching(/^volume [0-9a-f-]{36}$/)]);
      await expectVolumeGone(undone[0]?.slice('volume '.length) ?? '');
      expect(await volumesNamed(`${name}-data`)).toEqual([]);
      expect((await provider.listServers()).filter((server) => server.name === name)).toEqual([]);
    },
  );
});
