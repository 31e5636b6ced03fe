/**
 * Time to ACTIVE on libvirt against the bare boot time of the same image (issue 6's benchmark).
 *
 * - bare boot: provider.createServer with the micro guest image and nothing listening for it, until the
 *   guest's console prints `corral-guest: init done` (kernel, initramfs, modules, network and seed mounted);
 * - time to ACTIVE: the whole control plane (embedded aedes with mTLS, SQLite) creating a redis instance,
 *   from `instances.create()` to ACTIVE (boot + agent start + TLS connect + prepare + redis up + heartbeat).
 *
 * The ratio is what corral adds on top of booting. Needs libvirtd and the guest image (scripts/test.sh makes
 * both). Runs `rounds` of each, one VM at a time, and deletes every VM it made.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startEmbeddedControlPlane } from '@corral/core';
import { corralGuestImage, createLibvirtProvider } from '@corral/provider-libvirt';
import pino from 'pino';

const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const imageDir = resolve(import.meta.dirname, '..', '.cache', 'guest-image');
const logger = pino({ level: 'error' });
const provider = createLibvirtProvider({
  namePrefix: 'corral-bench-',
  images: [corralGuestImage(imageDir)],
  cdromBus: 'sata',
  logger,
});

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

async function bareBoot(round: number): Promise<number> {
  const started = Date.now();
  const server = await provider.createServer({
    name: `bare-${round}`,
    idempotencyKey: `bench-bare-${Date.now()}-${round}`,
    flavor: 'corral.small',
    image: 'corral-guest',
    bootstrap: { userData: '#cloud-config\n{}\n' },
  });
  try {
    for (;;) {
      const console = await provider.readConsoleLog(server.id).catch(() => '');
      if (console.includes('corral-guest: init done')) return (Date.now() - started) / 1000;
      if (Date.now() - started > 5 * 60_000) throw new Error('the bare guest did not finish booting in 5 minutes');
      await new Promise((done) => setTimeout(done, 100));
    }
  } finally {
    await provider.deleteServer(server.id).catch(() => undefined);
  }
}

async function toActive(round: number): Promise<number> {
  const stateDir = await mkdtemp(join(tmpdir(), 'corral-bench-'));
  const embedded = await startEmbeddedControlPlane({
    stateDir,
    providers: { libvirt: provider },
    logger,
    controlPlane: { heartbeat: { intervalSeconds: 5 } },
  });
  try {
    const { instances } = embedded.controlPlane;
    const started = Date.now();
    const created = await instances.create({
      name: `active-${round}`,
      provider: 'libvirt',
      flavor: 'corral.small',
      datastore: { type: 'redis', version: '7' },
    });
    const view = await instances.waitFor(created.id, (v) => v.status === 'ACTIVE' || v.status === 'ERROR', {
      timeoutMs: 8 * 60_000,
    });
    const seconds = (Date.now() - started) / 1000;
    if (view.status !== 'ACTIVE') throw new Error(`instance ended ${view.status}: ${view.fault?.message}`);
    await instances.delete(created.id);
    await instances.waitFor(created.id, (v) => v.status === 'DELETED' || v.status === 'ERROR', { timeoutMs: 180_000 });
    return seconds;
  } finally {
    await embedded.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}

// Warm-up: the first create uploads the image into the pool and probes KVM; neither belongs in a boot time.
await bareBoot(0);
const bare: number[] = [];
const active: number[] = [];
for (let round = 1; round <= rounds; round++) {
  bare.push(await bareBoot(round));
  active.push(await toActive(round));
}
await provider.close?.();
const result = {
  setup: `libvirt qemu:///system, QEMU software emulation (no KVM), micro guest image (vmlinux + initramfs), flavor corral.small; ${rounds} rounds, one VM at a time, after a warm-up boot`,
  anchor: 'bare boot of the same image: createServer until the guest console prints "init done"',
  bareBootSeconds: { median: median(bare), all: bare },
  timeToActiveSeconds: { median: median(active), all: active },
  ratioActiveToBareBoot: median(active) / median(bare),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
