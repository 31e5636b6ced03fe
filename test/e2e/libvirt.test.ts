/**
 * The whole flow on real parts: a real VM booted by libvirtd through provider-libvirt (QEMU software
 * emulation here), the real guest agent inside it connecting back over MQTT with its own certificate to the
 * embedded aedes broker, prepare starting a real redis-server, the conductor turning the heartbeats into
 * ACTIVE, a Redis user created through the agent, and a delete that leaves no domain, no volume and no live
 * certificate behind.
 *
 * Needs: scripts/setup/40-libvirt.sh (libvirtd, QEMU) and the micro guest image built with the agent bundle
 * (`npm run build && bash scripts/guest-image/build.sh`); scripts/test.sh does both before the suites run.
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type EmbeddedControlPlane, GuestApi, startEmbeddedControlPlane } from '@corral/core';
import { corralGuestImage, createLibvirtProvider, type LibvirtProvider } from '@corral/provider-libvirt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const imageDir = resolve(import.meta.dirname, '..', '..', '.cache', 'guest-image');
const namePrefix = 'corral-e2e-';

async function virsh(...args: string[]): Promise<string[]> {
  const { stdout } = await run('virsh', ['-q', ...args]);
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

describe('libvirt end to end: real VM, real agent, real redis', () => {
  let stateDir: string;
  let provider: LibvirtProvider;
  let embedded: EmbeddedControlPlane;

  beforeAll(async () => {
    for (const file of ['vmlinux', 'initrd.img']) {
      await access(join(imageDir, file)).catch(() => {
        throw new Error(`${join(imageDir, file)} is missing: run bash scripts/guest-image/build.sh first`);
      });
    }
    stateDir = await mkdtemp(join(tmpdir(), 'corral-e2e-'));
    const logger = pino({ level: 'warn' });
    provider = createLibvirtProvider({
      namePrefix,
      images: [corralGuestImage(imageDir)],
      cdromBus: 'sata',
      logger,
    });
    embedded = await startEmbeddedControlPlane({
      stateDir,
      providers: { libvirt: provider },
      logger,
      controlPlane: { heartbeat: { intervalSeconds: 3 }, timeouts: { buildMs: 8 * 60_000 } },
    });
  });

  afterAll(async () => {
    await embedded?.close();
    // Whatever a failed run left: our prefix only, never anybody else's domains.
    for (const name of await virsh('list', '--all', '--name').catch(() => [])) {
      if (!name.startsWith(namePrefix)) continue;
      await virsh('destroy', name).catch(() => undefined);
      await virsh('undefine', name).catch(() => undefined);
    }
    const volumes = await virsh('vol-list', 'corral').catch(() => []);
    for (const name of volumes.map((line) => line.split(/\s+/)[0] ?? '')) {
      if (name.startsWith(namePrefix)) await virsh('vol-delete', name, '--pool', 'corral').catch(() => undefined);
    }
    await provider?.close?.();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it(
    'creates a redis instance that goes ACTIVE, serves a user command, and deletes without leftovers',
    async () => {
      const { instances } = embedded.controlPlane;
      const started = Date.now();
      const created = await instances.create({
        name: 'e2e-redis',
        provider: 'libvirt',
        flavor: 'corral.small',
        datastore: { type: 'redis', version: '7' },
      });
      expect(created.status).toBe('BUILD');

      const active = await instances.waitFor(
        created.id,
        (view) => view.status === 'ACTIVE' || view.status === 'ERROR',
        {
          timeoutMs: 8 * 60_000,
        },
      );
      const console = active.serverId ? await provider.readConsoleLog(active.serverId).catch(() => '') : '';
      expect(active.status, `instance ended ${active.status}; fault ${JSON.stringify(active.fault)}\n${console}`).toBe(
        'ACTIVE',
      );
      expect(active.serviceStatus).toBe('HEALTHY');
      process.stdout.write(`time to ACTIVE: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

      // The agent connected with its own certificate: the broker knows it by the guest's identity.
      expect(embedded.broker.connectedIdentities().map((identity) => identity.cn)).toContain(created.id);
      // The guest read its bootstrap from the NoCloud seed, as its console says.
      expect(await provider.readConsoleLog(active.serverId!)).toMatch(/seed mounted/);

      const guest = new GuestApi(embedded.controlPlane.transport);
      await guest.cast(
        created.id,
        'create_user',
        { users: [{ name: 'e2e', password: 'e2e-Secret-pass-1' }] },
        'e2e-u1',
      );
      let users: string[] = [];
      for (let attempt = 0; attempt < 30 && !users.includes('e2e'); attempt++) {
        const listed = (await guest.call(
          created.id,
          'list_users',
          {},
          { timeoutMs: 20_000, requestId: `e2e-l${attempt}` },
        )) as {
          users: { name: string }[];
        };
        users = listed.users.map((user) => user.name);
        if (!users.includes('e2e')) await new Promise((done) => setTimeout(done, 500));
      }
      expect(users).toContain('e2e');

      await instances.delete(created.id);
      const deleted = await instances.waitFor(
        created.id,
        (view) => view.status === 'DELETED' || view.status === 'ERROR',
        {
          timeoutMs: 3 * 60_000,
        },
      );
      expect(deleted.status).toBe('DELETED');

      const domains = await virsh('list', '--all', '--name');
      expect(domains.filter((name) => name.startsWith(namePrefix))).toEqual([]);
      const volumes = (await virsh('vol-list', 'corral')).map((line) => line.split(/\s+/)[0] ?? '');
      // Image volumes are a cache shared by servers; every volume made for this server must be gone.
      expect(volumes.filter((name) => name.startsWith(namePrefix) && !name.startsWith(`${namePrefix}image-`))).toEqual(
        [],
      );
      const certificates = await embedded.store.listGuestCertificates({ guestId: created.id });
      expect(certificates.length).toBeGreaterThan(0);
      expect(certificates.every((certificate) => certificate.revoked)).toBe(true);
    },
    12 * 60_000,
  );
});
