/**
 * The libvirt provider against a real libvirtd (scripts/setup/40-libvirt.sh) booting real (TCG) guests from
 * the test kernel + initramfs (fixtures/build-test-image.sh). Every domain and volume it makes is removed,
 * even on failure.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadRequestError, NotFoundError, type Server } from '@corral/core';
import { createLibvirtProvider, type LibvirtProvider } from '@corral/provider-libvirt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, requireLibvirtd, testImage, URI, waitFor } from './helpers.js';

const prefix = `corraltest${process.pid % 100000}-`;
const pool = { name: `${prefix}pool`, path: `/var/lib/corral/test-pools/${prefix}pool` };
let provider: LibvirtProvider;
// A blank qcow2 "disk image": nothing boots from it, but it exercises the overlay path end to end.
const diskDir = mkdtempSync(join(tmpdir(), 'corral-libvirt-disk-'));
const diskImage = join(diskDir, 'blank.qcow2');

const request = (name: string, key: string, extra: Record<string, unknown> = {}) => ({
  name,
  idempotencyKey: key,
  flavor: 'corral.micro',
  image: 'tiny',
  bootstrap: { userData: `#cloud-config marker-${key}\n` },
  ...extra,
});

beforeAll(async () => {
  requireLibvirtd();
  const image = testImage();
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', diskImage, '64M']);
  provider = createLibvirtProvider({
    uri: URI,
    pool,
    namePrefix: prefix,
    domainType: 'qemu',
    consoleLogDir: `/var/log/corral/test-console/${prefix}`,
    images: [
      {
        kind: 'kernel',
        name: 'tiny',
        kernel: image.kernel,
        initrd: image.initrd,
        cmdline: 'console=ttyS0 corral.stay=1',
      },
      { kind: 'disk', name: 'blank-disk', path: diskImage, format: 'qcow2' },
    ],
    flavors: [
      { id: 'corral.micro', name: 'corral.micro', vcpus: 1, ramMb: 256 },
      { id: 'corral.small', name: 'corral.small', vcpus: 2, ramMb: 320 },
      // More memory than any host here has: QEMU cannot start it, the server ends in ERROR.
      { id: 'impossible', name: 'impossible', vcpus: 1, ramMb: 64 * 1024 * 1024 },
    ],
  });
});

afterAll(async () => {
  await provider?.close?.();
  await cleanup(prefix, pool);
  rmSync(diskDir, { recursive: true, force: true });
});

describe('libvirt provider', () => {
  let server: Server;

  it('boots a kernel+initrd server that reads its NoCloud seed', async () => {
    server = await provider.createServer(request('boot', 'key-boot'));
    expect(server).toMatchObject({
      name: 'boot',
      status: 'ACTIVE',
      idempotencyKey: 'key-boot',
      flavor: 'corral.micro',
      image: 'tiny',
    });
    const log = await waitFor('the guest to read its seed', 90_000, async () => {
      const text = await provider.readConsoleLog(server.id);
      return text.includes('CORRAL-SEED-END') || text.includes('CORRAL-SEED-MISSING') ? text : undefined;
    });
    expect(log).toContain('CORRAL-SEED-FILES: meta-data user-data');
    expect(log).toContain('CORRAL-SEED-USERDATA: #cloud-config marker-key-boot');
  });

  it('returns the same server for the same idempotency key, also when called concurrently', async () => {
    const [a, b] = await Promise.all([
      provider.createServer(request('boot', 'key-boot')),
      provider.createServer(request('boot', 'key-boot')),
    ]);
    expect(a.id).toBe(server.id);
    expect(b.id).toBe(server.id);
    expect((await provider.findServerByIdempotencyKey('key-boot'))?.id).toBe(server.id);
    expect(await provider.findServerByIdempotencyKey('no-such-key')).toBeUndefined();
    expect((await provider.listServers()).filter((s) => s.idempotencyKey === 'key-boot')).toHaveLength(1);
  });

  it('gets, reboots and resizes', async () => {
    expect(await provider.getServer(server.id)).toMatchObject({ id: server.id, status: 'ACTIVE' });
    await provider.rebootServer(server.id, { hard: true });
    expect((await provider.getServer(server.id)).status).toBe('ACTIVE');
    await provider.resizeServer(server.id, 'corral.small');
    const resized = await provider.getServer(server.id);
    expect(resized).toMatchObject({ status: 'ACTIVE', flavor: 'corral.small' });
    const lv = await provider.libvirt();
    const info = await lv.domains.info(await lv.domains.lookupByUuid(server.id));
    expect(info).toMatchObject({ vcpus: 2, maxMemKiB: 320 * 1024 });
  });

  it('puts a server that cannot start into ERROR with libvirt’s fault', async () => {
    const failed = await provider.createServer(request('broken', 'key-broken', { flavor: 'impossible' }));
    expect(failed.status).toBe('ERROR');
    expect(failed.fault?.message).toMatch(/memory/i);
    expect((await provider.getServer(failed.id)).status).toBe('ERROR');
    await provider.deleteServer(failed.id);
  });

  it('rejects bad requests naming the field', async () => {
    await expect(provider.createServer(request('bad name!', 'k'))).rejects.toThrow(/name/);
    await expect(provider.createServer(request('x', 'k-flavor', { flavor: 'nope' }))).rejects.toBeInstanceOf(
      BadRequestError,
    );
    await expect(provider.createServer(request('x', 'k-image', { image: 'nope' }))).rejects.toThrow(/image/);
    await expect(provider.getServer('00000000-0000-0000-0000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
    await expect(provider.getServer('not-a-uuid')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('watches a server through lifecycle events until it is deleted, leaving no domain and no volume', async () => {
    const controller = new AbortController();
    const statuses: string[] = [];
    const watching = (async () => {
      for await (const update of provider.watchServer!(server.id, { signal: controller.signal, intervalMs: 60_000 })) {
        statuses.push(update.status);
      }
    })();
    await waitFor('the first status', 10_000, async () => (statuses.length > 0 ? true : undefined));
    const lv = await provider.libvirt();
    const dom = await lv.domains.lookupByUuid(server.id);
    // A poll interval of a minute: only the lifecycle event can make the watcher see the stop this fast.
    await lv.domains.destroy(dom);
    await waitFor('SHUTOFF via event', 10_000, async () => (statuses.includes('SHUTOFF') ? true : undefined));
    await provider.deleteServer(server.id);
    await waitFor('DELETED', 10_000, async () => (statuses.includes('DELETED') ? true : undefined));
    controller.abort();
    await watching;
    expect(statuses).toEqual(['ACTIVE', 'SHUTOFF', 'DELETED']);

    await expect(provider.getServer(server.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await lv.domains.list()).filter((d) => d.name.startsWith(prefix))).toEqual([]);
    const poolRef = await lv.storage.ensureDirPool(pool.name, pool.path);
    const left = (await lv.storage.listVolumes(poolRef))
      .map((v) => v.name)
      .filter((n) => !n.startsWith(`${prefix}image-`));
    expect(left).toEqual([]);
  });

  it('gives a disk-image server a qcow2 overlay and a data volume, and deletes both with it', async () => {
    const disk = await provider.createServer(request('disk', 'key-disk', { image: 'blank-disk', volumeSizeGb: 1 }));
    expect(disk.status).toBe('ACTIVE');
    const lv = await provider.libvirt();
    const poolRef = await lv.storage.ensureDirPool(pool.name, pool.path);
    const mine = async () =>
      (await lv.storage.listVolumes(poolRef)).filter((v) => v.name.startsWith(`${prefix}disk-`)).map((v) => v.name);
    const volumes = await mine();
    expect(volumes.map((n) => n.replace(/^.*-/, ''))).toEqual(
      expect.arrayContaining(['disk.qcow2', 'data.qcow2', 'seed.iso']),
    );
    const overlay = (await lv.storage.findVolume(poolRef, volumes.find((n) => n.endsWith('-disk.qcow2'))!))!;
    const xml = (await lv.connection.call('storage_vol_get_xml_desc', { vol: overlay, flags: 0 })).xml;
    expect(xml).toMatch(/<backingStore>[\s\S]*image-blank-disk-disk-/);
    const domainXml = await lv.domains.xml(await lv.domains.lookupByUuid(disk.id));
    expect(domainXml).toContain("<target dev='vda' bus='virtio'/>");
    expect(domainXml).toContain("<target dev='vdb' bus='virtio'/>");
    await provider.deleteServer(disk.id);
    expect(await mine()).toEqual([]);
  });

  it('lists flavors and images', async () => {
    expect((await provider.listFlavors()).map((f) => f.id)).toContain('corral.micro');
    expect((await provider.listImages()).map((i) => i.id)).toEqual(['tiny', 'blank-disk']);
  });
});
