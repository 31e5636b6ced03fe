/**
 * The server watcher on real parts: one real VM booted through the embedded control plane and provider-libvirt
 * (QEMU software emulation here) goes ACTIVE; an operator then stops it behind corral's back (`virsh destroy`),
 * and the instance must say so (server SHUTOFF, status SHUTDOWN) within a few polling intervals. libvirt's
 * lifecycle events make that near-instant; polling alone (CORRAL_WATCH_EVENTS=0) within about one interval.
 * A delete then leaves no domain and no volume of ours.
 *
 * Needs: scripts/setup/40-libvirt.sh (libvirtd, QEMU, virsh) and the micro guest image built with the agent
 * bundle (`npm run build && bash scripts/guest-image/build.sh`); scripts/test.sh does both before the suites.
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type EmbeddedControlPlane, startEmbeddedControlPlane } from '@corral/core';
import { corralGuestImage, createLibvirtProvider, type LibvirtProvider } from '@corral/provider-libvirt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
// CORRAL_GUEST_IMAGE_DIR: another build of the image (`build.sh --out <dir>`), e.g. one with a newer agent.
const imageDir =
  process.env.CORRAL_GUEST_IMAGE_DIR ?? resolve(import.meta.dirname, '..', '..', '.cache', 'guest-image');
const namePrefix = 'corral-watch-';
const intervalMs = 3_000;
const providerEvents = process.env.CORRAL_WATCH_EVENTS !== '0';

async function virsh(...args: string[]): Promise<string[]> {
  const { stdout } = await run('virsh', ['-q', ...args]);
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

describe('server watcher on libvirt: a VM stopped behind corral shows as stopped', () => {
  let stateDir: string;
  let provider: LibvirtProvider;
  let embedded: EmbeddedControlPlane;

  beforeAll(async () => {
    for (const file of ['vmlinux', 'initrd.img']) {
      await access(join(imageDir, file)).catch(() => {
        throw new Error(`${join(imageDir, file)} is missing: run bash scripts/guest-image/build.sh first`);
      });
    }
    stateDir = await mkdtemp(join(tmpdir(), 'corral-watch-'));
    const logger = pino({ level: process.env.CORRAL_TEST_LOG ?? 'warn' });
    provider = createLibvirtProvider({ namePrefix, images: [corralGuestImage(imageDir)], cdromBus: 'sata', logger });
    embedded = await startEmbeddedControlPlane({
      stateDir,
      providers: { libvirt: provider },
      logger,
      controlPlane: {
        heartbeat: { intervalSeconds: 3 },
        // The delete's best-effort stop call to the (dead) guest need not wait the default minute.
        timeouts: { buildMs: 8 * 60_000, guestCallMs: 5_000 },
        serverWatch: { intervalMs, providerEvents },
      },
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
    'records SHUTOFF after virsh destroy, then deletes without leftovers',
    async () => {
      const { instances, serverWatcher } = embedded.controlPlane;
      expect(serverWatcher).toBeDefined();
      const created = await instances.create({
        name: 'watch-redis',
        provider: 'libvirt',
        flavor: 'corral.small',
        datastore: { type: 'redis', version: '7' },
      });
      const active = await instances.waitFor(created.id, (v) => v.status === 'ACTIVE' || v.status === 'ERROR', {
        timeoutMs: 8 * 60_000,
      });
      const console = active.serverId ? await provider.readConsoleLog(active.serverId).catch(() => '') : '';
      expect(active.status, `instance ended ${active.status}; fault ${JSON.stringify(active.fault)}\n${console}`).toBe(
        'ACTIVE',
      );
      expect(active.serverStatus).toBe('ACTIVE');
      const serverId = active.serverId ?? '';
      const [domain] = await virsh('domname', serverId);
      expect(domain?.startsWith(namePrefix)).toBe(true);

      // What the watch stream shows, as a caller of the API would see it.
      const controller = new AbortController();
      const seen: string[] = [];
      const reading = (async () => {
        for await (const change of instances.watch({ instanceId: created.id, signal: controller.signal })) {
          seen.push(change.status);
        }
      })();

      const changesBefore = serverWatcher?.metrics.changes ?? 0;
      const destroyedAt = Date.now();
      await virsh('destroy', domain ?? '');
      const destroyedBy = Date.now();
      const stopped = await instances.waitFor(created.id, (v) => v.serverStatus === 'SHUTOFF', {
        timeoutMs: 4 * intervalMs + 5_000,
      });
      const latencyMs = Date.now() - destroyedAt;
      const by = (serverWatcher?.metrics.hintChanges ?? 0) > 0 ? 'a hint (event or silent guest)' : 'a polling round';
      process.stdout.write(
        `server watcher: SHUTOFF recorded ${latencyMs} ms after virsh destroy began (${Date.now() - destroyedBy} ms after it returned), by ${by} (${providerEvents ? 'events + polling' : 'polling only'}, interval ${intervalMs} ms)\n`,
      );
      expect(stopped.status).toBe('SHUTDOWN');
      expect(stopped.taskStatus).toBe('NONE');
      expect(serverWatcher?.metrics.changes).toBeGreaterThan(changesBefore);
      if (providerEvents) expect(serverWatcher?.metrics.hints).toBeGreaterThan(0);
      await new Promise((done) => setTimeout(done, 200));
      controller.abort();
      await reading;
      expect(seen).toContain('SHUTDOWN');

      // Started again behind corral's back: the server reads ACTIVE again (the guest reboots meanwhile).
      const startedAt = Date.now();
      await virsh('start', domain ?? '');
      const startedBy = Date.now();
      await instances.waitFor(created.id, (v) => v.serverStatus === 'ACTIVE', { timeoutMs: 4 * intervalMs + 5_000 });
      process.stdout.write(
        `server watcher: ACTIVE again ${Date.now() - startedAt} ms after virsh start began (${Date.now() - startedBy} ms after it returned)\n`,
      );

      await instances.delete(created.id);
      const deleted = await instances.waitFor(
        created.id,
        (v) => v.status === 'DELETED' || v.taskStatus.endsWith('ERROR'),
        {
          timeoutMs: 3 * 60_000,
        },
      );
      expect(deleted.status).toBe('DELETED');
      const domains = await virsh('list', '--all', '--name');
      expect(domains.filter((name) => name.startsWith(namePrefix))).toEqual([]);
      const volumes = (await virsh('vol-list', 'corral')).map((line) => line.split(/\s+/)[0] ?? '');
      expect(volumes.filter((name) => name.startsWith(namePrefix) && !name.startsWith(`${namePrefix}image-`))).toEqual(
        [],
      );
    },
    12 * 60_000,
  );
});
