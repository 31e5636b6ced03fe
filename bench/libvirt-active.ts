/**
 * Time to ACTIVE on libvirt against the bare boot time of the same image (issue 6's benchmark).
 *
 * - bare boot: provider.createServer with the micro guest image and nothing listening for it, until the
 *   guest's console prints `corral-guest: init done` (kernel, initramfs, modules, network and seed mounted);
 * - time to ACTIVE: the whole control plane (embedded aedes with mTLS, SQLite) creating a redis instance,
 *   from `instances.create()` to ACTIVE (boot + agent start + TLS connect + prepare + redis up + heartbeat).
 *
 * - PostgreSQL's time to ACTIVE beside it: the postgresql variant of the micro image
 *   (`build.sh --variant postgresql`), flavor corral.medium, a 1 GiB data volume the agent formats and mounts,
 *   initdb on it. Skipped (and said so) when that image is not built.
 *
 * The ratio is what corral adds on top of booting. Needs libvirtd and the guest image (scripts/test.sh makes
 * both). Runs `rounds` of each, one VM at a time, and deletes every VM it made.
 *
 * `timeline` explains the last create step by step, in ms from the create call: the host's steps from the
 * control plane's and the provider's logs, the guest's from its console (kernel at uptime 0, init's
 * `corral-guest:` lines, the agent's `timeline:` lines), put on the host's clock by the one event both sides
 * see: the prepare cast (host) and its arrival (guest), one loopback broker hop apart.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatastoreCatalog, defaultDatastores, startEmbeddedControlPlane } from '@corral/core';
import { corralGuestImage, createLibvirtProvider } from '@corral/provider-libvirt';
import pino from 'pino';

const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const imageDir = resolve(import.meta.dirname, '..', '.cache', 'guest-image');
const postgresImageDir = join(imageDir, 'postgresql');
const POSTGRES_IMAGE = 'corral-guest-postgresql';
const withPostgres = existsSync(join(postgresImageDir, 'initrd.img'));
/** The host's log lines (control plane and provider), kept for the timeline. */
const hostLog: { time: number; msg: string; step?: string }[] = [];
const logger = pino(
  { level: 'debug' },
  {
    write(line: string) {
      const entry = JSON.parse(line) as { time: number; msg: string; step?: string; level: number };
      hostLog.push(entry);
      if (entry.level >= 50) process.stderr.write(line);
    },
  },
);
const provider = createLibvirtProvider({
  namePrefix: 'corral-bench-',
  images: [
    corralGuestImage(imageDir),
    ...(withPostgres ? [corralGuestImage(postgresImageDir, { name: POSTGRES_IMAGE })] : []),
  ],
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

type Timeline = Record<string, number>;

/** The guest's steps from its console, in ms of guest uptime. */
function guestSteps(console: string): Timeline {
  const steps: Timeline = { 'guest: kernel starts': 0 };
  const init = /corral-guest: init done in (\d+) ms/.exec(console);
  if (init) steps['guest: init done'] = Number(init[1]);
  const agent = /corral-guest: starting agent \S+ at (\d+) ms/.exec(console);
  if (agent) steps['guest: supervisor starts the agent'] = Number(agent[1]);
  for (const match of console.matchAll(/\{[^\n]*"timeline":[^\n]*\}/g)) {
    const line = JSON.parse(match[0]) as { timeline: string; uptimeMs: number };
    steps[`guest: ${line.timeline}`] = line.uptimeMs;
  }
  return steps;
}

/** Host and guest steps of one create on one clock (ms since the create call), in order. */
function timelineOf(startedAt: number, host: Timeline, guest: Timeline): Timeline {
  const castAt = host['host: birth seen, prepare cast'];
  const receivedAt = guest['guest: prepare received'];
  const offset = castAt !== undefined && receivedAt !== undefined ? castAt - receivedAt : Number.NaN;
  const all: [string, number][] = [
    ...Object.entries(host),
    ...Object.entries(guest).map(([step, uptime]): [string, number] => [step, uptime + offset]),
  ];
  all.sort((a, b) => a[1] - b[1]);
  return Object.fromEntries(all.map(([step, at]) => [step, Math.round(at - startedAt)]));
}

function hostSteps(startedAt: number, endedAt: number): Timeline {
  const during = hostLog.filter((entry) => entry.time >= startedAt && entry.time <= endedAt);
  const first = (test: (entry: (typeof hostLog)[number]) => boolean) => during.find(test)?.time;
  const steps: Record<string, number | undefined> = {
    'host: domain defined': first((entry) => entry.msg === 'domain defined'),
    'host: domain started': first((entry) => entry.msg === 'server started'),
    'host: birth seen, prepare cast': first((entry) => entry.msg === 'step done' && entry.step === 'deliver-prepare'),
    'host: HEALTHY written, task done': first((entry) => entry.msg === 'step done' && entry.step === 'await-healthy'),
  };
  return Object.fromEntries(Object.entries(steps).filter((entry): entry is [string, number] => entry[1] !== undefined));
}

let lastTimeline: Timeline = {};

/** The console log once it shows `text` (the serial console trails the guest), or as it is after 20 s. */
async function readConsoleUntil(serverId: string, text: string): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const console = await provider.readConsoleLog(serverId).catch(() => '');
    if (console.includes(text) || Date.now() > deadline) return console;
    await new Promise((done) => setTimeout(done, 200));
  }
}

/** The default catalog with PostgreSQL on its own image variant. */
const datastores = new DatastoreCatalog(
  defaultDatastores().map((datastore) =>
    datastore.name === 'postgresql'
      ? { ...datastore, versions: datastore.versions.map((v) => ({ ...v, images: { libvirt: POSTGRES_IMAGE } })) }
      : datastore,
  ),
);

async function toActive(round: number, kind: 'redis' | 'postgresql' = 'redis'): Promise<number> {
  const stateDir = await mkdtemp(join(tmpdir(), 'corral-bench-'));
  const embedded = await startEmbeddedControlPlane({
    stateDir,
    providers: { libvirt: provider },
    datastores,
    logger,
    controlPlane: { heartbeat: { intervalSeconds: 5 } },
  });
  try {
    const { instances } = embedded.controlPlane;
    const started = Date.now();
    const created = await instances.create({
      name: `active-${kind}-${round}`,
      provider: 'libvirt',
      ...(kind === 'redis'
        ? { flavor: 'corral.small', datastore: { type: 'redis', version: '7' } }
        : { flavor: 'corral.medium', volumeSizeGb: 1, datastore: { type: 'postgresql', version: '15' } }),
    });
    const accepted = Date.now();
    const view = await instances.waitFor(created.id, (v) => v.status === 'ACTIVE' || v.status === 'ERROR', {
      timeoutMs: 8 * 60_000,
    });
    const active = Date.now();
    const seconds = (active - started) / 1000;
    if (view.status !== 'ACTIVE') throw new Error(`instance ended ${view.status}: ${view.fault?.message}`);
    const console = view.serverId ? await readConsoleUntil(view.serverId, 'timeline: HEALTHY heartbeat sent') : '';
    // The timeline explains redis's create (the anchor row); PostgreSQL's is its own row.
    if (kind === 'redis')
      lastTimeline = timelineOf(
        started,
        { 'host: create accepted': accepted, ...hostSteps(started, active), 'host: ACTIVE visible': active },
        guestSteps(console),
      );
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
const postgresActive: number[] = [];
for (let round = 1; round <= rounds; round++) {
  bare.push(await bareBoot(round));
  active.push(await toActive(round));
  if (withPostgres) postgresActive.push(await toActive(round, 'postgresql'));
}
await provider.close?.();
const result = {
  setup: `libvirt qemu:///system, QEMU software emulation (no KVM), micro guest image (vmlinux + initramfs), flavor corral.small; ${rounds} rounds, one VM at a time, after a warm-up boot; load average (1 min) ${loadavg()[0]?.toFixed(1)} at the end (other work shares the cores)`,
  anchor: 'bare boot of the same image: createServer until the guest console prints "init done"',
  bareBootSeconds: { median: median(bare), all: bare },
  timeToActiveSeconds: { median: median(active), all: active },
  ratioActiveToBareBoot: median(active) / median(bare),
  timeline: lastTimeline,
  ...(withPostgres
    ? { postgresqlWithVolumeTimeToActiveSeconds: { median: median(postgresActive), all: postgresActive } }
    : {
        postgresql: 'skipped: build the postgresql image variant (scripts/guest-image/build.sh --variant postgresql)',
      }),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
