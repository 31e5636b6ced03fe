/**
 * libvirtd restarted while creates are in flight, on real parts: real VMs (QEMU, TCG here) booted through
 * provider-libvirt by the embedded control plane, the real agent inside each. Three creates, one restart each:
 *   - lvr-upload: libvirtd goes down as the create uploads the server's seed volume (the upload fails);
 *   - lvr-start:  it goes down after the domain is defined, before it is started;
 *   - lvr-poll:   it goes down while the task polls the booting server (the domain runs on: QEMU outlives it).
 * Each create is retried by the task manager through the provider's reconnecting RPC client and must end
 * ACTIVE (or in an error with a fault), with one domain per instance, no leftover seed or disk volume, then
 * the invariant (test/faults/invariant.ts), delete all, and nothing of ours is left in libvirt.
 * libvirtd is stopped (SIGTERM, its pid file) and started again as scripts/setup/40-libvirt.sh starts it
 * (`libvirtd -d`; virtlogd keeps running); afterAll starts it again whatever happened, for the suites after.
 * Needs scripts/setup/40-libvirt.sh and the guest image (`npm run build && bash scripts/guest-image/build.sh`).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { type EmbeddedControlPlane, type InstanceView, startEmbeddedControlPlane } from '@corral/core';
import { corralGuestImage, createLibvirtProvider, type LibvirtProvider } from '@corral/provider-libvirt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkInvariant } from './invariant.js';

const run = promisify(execFile);
const imageDir = resolve(import.meta.dirname, '..', '..', '.cache', 'guest-image');
const namePrefix = 'corral-lvrestart-';
const SOCKET = '/var/run/libvirt/libvirt-sock';
const PID_FILE = '/var/run/libvirtd.pid';

function libvirtdPid(): number | undefined {
  try {
    const pid = Number(readFileSync(PID_FILE, 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function until(what: string, timeoutMs: number, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function stopLibvirtd(): Promise<void> {
  const pid = libvirtdPid();
  if (pid === undefined)
    throw new Error('libvirtd has no live pid file; was it started by scripts/setup/40-libvirt.sh?');
  process.kill(pid, 'SIGTERM');
  await until('libvirtd to exit', 30_000, () => libvirtdPid() === undefined);
}

/** Starts libvirtd (and virtlogd, should it be gone) unless running; waits until it answers. */
async function startLibvirtd(): Promise<void> {
  // pgrep exits 1 when nothing matches.
  if (spawnSync('pgrep', ['-x', 'virtlogd']).status === 1) execFileSync('virtlogd', ['-d']);
  if (libvirtdPid() === undefined) execFileSync('libvirtd', ['-d']);
  await until('libvirtd socket', 30_000, () => existsSync(SOCKET) && libvirtdPid() !== undefined);
  for (let attempt = 0; ; attempt++) {
    try {
      await run('virsh', ['-c', 'qemu:///system', 'version']);
      return;
    } catch (error) {
      if (attempt > 60) throw error;
      await sleep(250);
    }
  }
}

async function virsh(...args: string[]): Promise<string[]> {
  const { stdout } = await run('virsh', ['-q', '-c', 'qemu:///system', ...args]);
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

async function ourDomains(): Promise<string[]> {
  return (await virsh('list', '--all', '--name')).filter((name) => name.startsWith(namePrefix));
}

/** Our volumes other than the shared image cache (`<prefix>image-…`). */
async function ourServerVolumes(): Promise<string[]> {
  return (await virsh('vol-list', 'corral'))
    .map((line) => line.split(/\s+/)[0] ?? '')
    .filter((name) => name.startsWith(namePrefix) && !name.startsWith(`${namePrefix}image-`));
}

describe('libvirtd restart while creates are in flight', () => {
  let stateDir: string;
  let provider: LibvirtProvider;
  let embedded: EmbeddedControlPlane;
  const restarts: string[] = [];
  let restarting: Promise<void> = Promise.resolve();
  let pollInjected = false;

  /** Takes libvirtd down now; it comes back `downMs` later (in the background). Restarts never overlap. */
  function restartLibvirtd(why: string, downMs = 1_000): Promise<void> {
    const down = restarting.then(async () => {
      await stopLibvirtd();
      restarts.push(why);
    });
    restarting = down.then(async () => {
      await sleep(downMs);
      await startLibvirtd();
    });
    restarting.catch(() => undefined);
    return down;
  }

  beforeAll(async () => {
    for (const file of ['vmlinux', 'initrd.img']) {
      await access(join(imageDir, file)).catch(() => {
        throw new Error(`${join(imageDir, file)} is missing: run bash scripts/guest-image/build.sh first`);
      });
    }
    await startLibvirtd();
    stateDir = await mkdtemp(join(tmpdir(), 'corral-faults-libvirtd-'));
    const logger = pino({ level: 'warn' });
    provider = createLibvirtProvider({ namePrefix, images: [corralGuestImage(imageDir)], cdromBus: 'sata', logger });
    embedded = await startEmbeddedControlPlane({
      stateDir,
      providers: { libvirt: provider },
      logger,
      controlPlane: {
        heartbeat: { intervalSeconds: 2 },
        timeouts: { buildMs: 3 * 60_000, providerPollMs: 1_000, guestCallMs: 5_000 },
        // libvirtd takes seconds to restart on a loaded box, and the restarts here come back to back.
        stepRetries: 10,
        hooks: {
          // lvr-poll: once its server exists, libvirtd goes away while the task watches the server boot.
          async onStep({ step, phase, instanceId }) {
            if (step !== 'deliver-prepare' || phase !== 'before') return;
            const instance = await embedded.store.findInstance(instanceId);
            if (instance?.name !== 'lvr-poll' || pollInjected) return;
            pollInjected = true;
            // A failed stop shows as a missing entry in `restarts`, which the test checks.
            restartLibvirtd('lvr-poll: while the task polls the boot', 3_000).catch(() => undefined);
          },
        },
      },
    });
    // The image volumes are uploaded once, before the faults (a cut image upload is covered by
    // test/provider-libvirt/restart.test.ts); the seed volume and the domain of each create are not.
    await provider.domainType();
    const lv = await provider.libvirt();
    const injected = new Set<string>();
    const createVolumeFrom = lv.storage.createVolumeFrom.bind(lv.storage);
    lv.storage.createVolumeFrom = async (...args: Parameters<typeof createVolumeFrom>) => {
      const name = args[1];
      if (name.includes('lvr-upload') && name.endsWith('-seed.iso') && !injected.has('upload')) {
        injected.add('upload');
        await restartLibvirtd('lvr-upload: as the seed volume is uploaded');
      }
      return createVolumeFrom(...args);
    };
    const start = lv.domains.start.bind(lv.domains);
    lv.domains.start = async (...args: Parameters<typeof start>) => {
      if (args[0].name.includes('lvr-start') && !injected.has('start')) {
        injected.add('start');
        await restartLibvirtd('lvr-start: between define and start');
      }
      return start(...args);
    };
  }, 120_000);

  afterAll(async () => {
    await restarting.catch(() => undefined);
    // Whatever happened, libvirtd runs again for the suites after this one.
    await startLibvirtd().catch((error: unknown) => console.error(`[faults] libvirtd did not come back: ${error}`));
    await embedded?.close();
    for (const name of await ourDomains().catch(() => [])) {
      await virsh('destroy', name).catch(() => undefined);
      await virsh('undefine', name).catch(() => undefined);
    }
    for (const name of await ourServerVolumes().catch(() => [])) {
      await virsh('vol-delete', name, '--pool', 'corral').catch(() => undefined);
    }
    await provider?.close?.();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('three creates, three restarts: each ACTIVE with one domain; delete leaves nothing', {
    timeout: 8 * 60_000,
  }, async () => {
    const { instances } = embedded.controlPlane;
    const started = Date.now();
    const names = ['lvr-upload', 'lvr-start', 'lvr-poll'];
    const created: InstanceView[] = [];
    for (const name of names) {
      created.push(
        await instances.create({ name, provider: 'libvirt', flavor: 'corral.small', datastore: { type: 'redis' } }),
      );
    }
    const done = await Promise.all(
      created.map((view) =>
        instances.waitFor(
          view.id,
          (v) => v.taskStatus === 'NONE' || v.taskStatus.includes('ERROR') || v.status === 'ERROR',
          { timeoutMs: 6 * 60_000 },
        ),
      ),
    );
    await restarting;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `[faults] libvirtd restarts (${restarts.length}): ${restarts.join('; ')}; ${done.map((v) => `${v.name} ${v.status}/${v.taskStatus}`).join(', ')} in ${seconds} s`,
    );
    expect(restarts).toHaveLength(3);
    for (const view of done) {
      if (view.status === 'ACTIVE') continue;
      // What libvirt and the guest's console say, for the failure message.
      const state = await Promise.all(
        (await ourDomains()).map(async (name) => `${name}: ${(await virsh('domstate', '--reason', name)).join(' ')}`),
      );
      const console = view.serverId ? await provider.readConsoleLog(view.serverId).catch(() => '') : '';
      expect(
        view.status,
        `${view.name}: ${view.taskStatus} ${JSON.stringify(view.fault)}\n${state.join('\n')}\n${console.slice(-3000)}`,
      ).toBe('ACTIVE');
    }
    const domains = await ourDomains();
    expect(domains, 'one domain per instance').toHaveLength(3);
    const volumes = await ourServerVolumes();
    expect(
      volumes.filter((name) => name.endsWith('-seed.iso')),
      'one seed volume per domain',
    ).toHaveLength(3);
    for (const volume of volumes) {
      expect(
        domains.some((domain) => volume.startsWith(`${domain}-`)),
        `${volume} belongs to a domain`,
      ).toBe(true);
    }
    const env = { store: embedded.store, provider, revocations: embedded.revocations };
    expect(await checkInvariant(env)).toMatchObject({ active: 3, errored: 0, servers: 3 });

    await Promise.all(created.map((view) => instances.delete(view.id)));
    for (const view of created) {
      const gone = await instances.waitFor(view.id, (v) => v.status === 'DELETED' || v.taskStatus.includes('ERROR'), {
        timeoutMs: 2 * 60_000,
      });
      expect(gone.status, `${gone.name}: ${gone.taskStatus}`).toBe('DELETED');
    }
    const report = await checkInvariant(env);
    console.log(`[faults] libvirtd restart: ${JSON.stringify(report)}`);
    expect(report).toMatchObject({ active: 0, errored: 0, deleted: 3, servers: 0 });
    expect(await ourDomains()).toEqual([]);
    expect(await ourServerVolumes()).toEqual([]);
  });
});
