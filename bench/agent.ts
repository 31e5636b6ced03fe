/**
 * Agent footprint: resident memory of the guest agent bundle (packages/agent/dist/corral-agent.mjs, run by plain
 * `node` as in a guest) idle and during prepare of redis and PostgreSQL, and the time from process start to its
 * birth message on the embedded broker (aedes, mutual TLS). Anchors: a bare `node` process, and Trove's Python
 * guest agent (Debian's trove-guestagent, when installed: `apt-get install trove-guestagent`).
 * Every process runs as the guest image runs the agent (scripts/guest-image/guest/agent-runtime.env: node's
 * flags, malloc's tunables) with the agent's own small environment, so the anchors are measured alike: bare
 * node, and bare node holding one mutual-TLS socket to the same broker (the floor for anything that talks to
 * it). Memory rows are also given as ratios to both anchors.
 * The same start-up and idle figures on each Node.js the guest image can carry (the host's, 22 and 24 from
 * scripts/node-versions.sh; BENCH_AGENT_NODES overrides the list), with each binary's stripped size: it is
 * unpacked into the guest's RAM with the initramfs.
 * Needs scripts/setup/30-datastores.sh. Run: `npx tsx bench/agent.ts` (prints one JSON object).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ControlPlane,
  cleanupGuest,
  freePort,
  type GuestSetup,
  makeGuest,
  prepareArgs,
  REPO,
  startControlPlane,
} from '../test/agent/harness.js';

const BUNDLE = join(REPO, 'packages/agent/dist/corral-agent.mjs');
const log = (message: string) => process.stderr.write(`[bench agent] ${message}\n`);

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
}

const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function sampleRss(pid: number, ms: number, every = 100): Promise<number[]> {
  const samples: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    samples.push(rssKb(pid));
    await sleep(every);
  }
  return samples;
}

/** The guest image's node flags and malloc tunables for the agent (KEY="value" lines). */
function guestRuntime(): { flags: string[]; env: Record<string, string> } {
  const text = readFileSync(join(REPO, 'scripts/guest-image/guest/agent-runtime.env'), 'utf8');
  const values = Object.fromEntries(
    [...text.matchAll(/^([A-Z_]+)="([^"]*)"$/gm)].map((match) => [match[1] as string, match[2] as string]),
  );
  const { CORRAL_AGENT_NODE_FLAGS: flags = '', ...env } = values;
  return { flags: flags.split(' ').filter(Boolean), env };
}

const runtime = guestRuntime();

/** A node process run as the guest runs the agent: its flags, its tunables, a small environment. */
function runNode(args: string[], env: Record<string, string> = {}, node = process.execPath): ChildProcess {
  return spawn(node, [...runtime.flags, ...args], {
    cwd: tmpdir(),
    env: { PATH: '/usr/bin:/bin', ...runtime.env, ...env },
    stdio: 'ignore',
  });
}

function runBundle(guest: GuestSetup, node = process.execPath): ChildProcess {
  return runNode([BUNDLE], { CORRAL_SEED_DIR: guest.stateDir, CORRAL_SEED_PROBE: '0' }, node);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
}

/** CPU time (user + system) a process has used so far, in ms: unlike wall time, barely moved by other load. */
function cpuMs(pid: number): number {
  // /proc/<pid>/stat: fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticksPerSecond = 100; // USER_HZ on Linux x86_64
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

/** Process start → birth message on the broker: wall time, and the agent's own CPU time up to its birth. */
async function startToBirth(
  plane: ControlPlane,
  runs: number,
  node = process.execPath,
  label = 'birth',
): Promise<{ wallMs: number[]; cpuMs: number[] }> {
  const times = { wallMs: [] as number[], cpuMs: [] as number[] };
  for (let i = 0; i < runs; i++) {
    const guest = await makeGuest(plane, { guestId: `${label}-${i}`, manager: 'redis', port: await freePort() });
    const started = Date.now();
    const child = runBundle(guest, node);
    const deadline = started + 30_000;
    let birth: number | undefined;
    while (birth === undefined && Date.now() < deadline) {
      birth = plane.births.find((b) => b.guestId === guest.guestId && b.at >= started)?.at;
      if (birth === undefined) await sleep(5);
    }
    const cpu = birth === undefined ? Number.NaN : cpuMs(child.pid as number);
    await stop(child);
    await cleanupGuest(guest, []);
    if (birth === undefined) throw new Error(`no birth from ${guest.guestId}`);
    times.wallMs.push(birth - started);
    times.cpuMs.push(cpu);
  }
  return times;
}

async function prepareFootprint(plane: ControlPlane, manager: 'redis' | 'postgresql') {
  const guest = await makeGuest(plane, { guestId: `footprint-${manager}`, manager, port: await freePort() });
  const child = runBundle(guest);
  try {
    await plane.waitForHeartbeat(guest.guestId, (b) => b.first === true, 30_000);
    await sleep(3000); // let start-up garbage settle before calling it idle
    const idle = await sampleRss(child.pid as number, 3000);
    const from = plane.messages.length;
    const started = Date.now();
    await plane.service.cast(guest.guestId, 'prepare', prepareArgs(manager, { requestId: `bench-${manager}` }));
    const during: number[] = [];
    let report: { args: Record<string, unknown> } | undefined;
    while (!report && Date.now() - started < 120_000) {
      during.push(rssKb(child.pid as number));
      report = plane.messages.slice(from).find((m) => m.guestId === guest.guestId && m.method === 'status_report');
      await sleep(20);
    }
    const prepareMs = Date.now() - started;
    if (report?.args.serviceStatus !== 'HEALTHY')
      throw new Error(`${manager} prepare: ${JSON.stringify(report?.args)}`);
    await sleep(2000);
    const after = await sampleRss(child.pid as number, 2000);
    return {
      idleRssMb: mb(median(idle)),
      prepareRssPeakMb: mb(Math.max(...during)),
      afterPrepareRssMb: mb(median(after)),
      prepareMs,
    };
  } finally {
    await stop(child);
    await cleanupGuest(guest, []);
  }
}

/** Resident memory of the agent once started and settled, before any prepare. */
async function idleRssMb(plane: ControlPlane, node: string, guestId: string): Promise<number> {
  const guest = await makeGuest(plane, { guestId, manager: 'redis', port: await freePort() });
  const child = runBundle(guest, node);
  try {
    await plane.waitForHeartbeat(guest.guestId, (b) => b.first === true, 30_000);
    await sleep(3000); // let start-up garbage settle before calling it idle
    return mb(median(await sampleRss(child.pid as number, 3000)));
  } finally {
    await stop(child);
    await cleanupGuest(guest, []);
  }
}

/** The host's node and the versions scripts/node-versions.sh installs. */
function nodeBinaries(): string[] {
  const wanted = (process.env.BENCH_AGENT_NODES ?? '22 24').split(/\s+/).filter(Boolean);
  const installed = execFileSync('bash', [join(REPO, 'scripts/node-versions.sh'), ...wanted], { encoding: 'utf8' })
    .trim()
    .split('\n');
  return [process.execPath, ...installed];
}

/**
 * Start → birth and idle RSS of the same bundle on each Node, and what each binary adds to the guest image:
 * `runs`, which the report renders as one table with a column per Node.
 */
async function perNode(plane: ControlPlane) {
  const result: Record<
    string,
    { startToBirthMsP50: number; startCpuMsP50: number; idleRssMb: number; strippedBinaryMb: number }
  > = {};
  for (const node of nodeBinaries()) {
    const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
    log(`node ${version}: start → birth, idle`);
    const label = `v${version.slice(1).replaceAll('.', '-')}`;
    const births = await startToBirth(plane, 5, node, `birth-${label}`);
    const stripped = join(tmpdir(), `corral-bench-${process.pid}-node`);
    execFileSync('strip', ['-o', stripped, node]);
    const strippedBinaryMb = mb(statSync(stripped).size / 1024);
    rmSync(stripped, { force: true });
    result[`node ${version}`] = {
      startToBirthMsP50: median(births.wallMs),
      startCpuMsP50: median(births.cpuMs),
      idleRssMb: await idleRssMb(plane, node, `idle-${label}`),
      strippedBinaryMb,
    };
  }
  return result;
}

async function bareNodeRssMb(): Promise<number> {
  const child = runNode(['-e', 'setInterval(() => {}, 1000)']);
  await sleep(1500);
  const kb = median(await sampleRss(child.pid as number, 1000));
  await stop(child);
  return mb(kb);
}

/** Bare node holding one mutual-TLS socket to the broker, with a guest's certificate: no MQTT, no agent. */
async function bareNodeMtlsRssMb(plane: ControlPlane): Promise<number> {
  const guest = await makeGuest(plane, { guestId: 'bare-mtls', manager: 'redis' });
  const { broker } = guest.config;
  const url = new URL(broker.url);
  const script = `const tls = require('node:tls');
const socket = tls.connect({ host: ${JSON.stringify(url.hostname)}, port: ${Number(url.port)}, ca: process.env.CA,
  cert: process.env.CERT, key: process.env.KEY, servername: 'localhost' });
socket.on('secureConnect', () => { socket.setKeepAlive(true); console.log('connected'); });
socket.on('error', (error) => { console.error(error.message); process.exit(1); });
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, [...runtime.flags, '-e', script], {
    cwd: tmpdir(),
    env: {
      PATH: '/usr/bin:/bin',
      ...runtime.env,
      CA: broker.caPem,
      CERT: broker.certPem ?? '',
      KEY: broker.keyPem ?? '',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`bare mTLS socket exited ${code}`)));
    });
    await sleep(1500);
    return mb(median(await sampleRss(child.pid as number, 1000)));
  } finally {
    await stop(child);
    await cleanupGuest(guest, []);
  }
}

const ratio = (value: number, anchor: number) => Math.round((value / anchor) * 100) / 100;

/**
 * Trove 18's guest agent runs datastores in Docker and asks the Docker API for its version at start; there is
 * no Docker engine here, so a stub on a unix socket answers that one question. RabbitMQ is not started: the
 * agent idles retrying its connection, which is the state we measure.
 */
async function troveGuestAgent(): Promise<{ idleRssMb: number; note: string } | { error: string }> {
  if (!existsSync('/usr/bin/trove-guestagent'))
    return { error: 'trove-guestagent not installed (apt-get install trove-guestagent)' };
  const dir = mkdtempSync(join(tmpdir(), 'trove-ga-'));
  const socket = join(dir, 'docker.sock');
  const docker = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url?.includes('/version'))
      res.end(JSON.stringify({ ApiVersion: '1.41', Version: '20.10.0', MinAPIVersion: '1.12' }));
    else if (req.url?.includes('/containers/json')) res.end('[]');
    else {
      res.statusCode = 404;
      res.end('{"message":"not found"}');
    }
  });
  await new Promise<void>((resolve) => docker.listen(socket, resolve));
  const hadDatabaseUser = /^database:/m.test(readFileSync('/etc/passwd', 'utf8'));
  const rabbitPort = await freePort();
  writeFileSync(
    join(dir, 'guest.conf'),
    [
      '[DEFAULT]',
      `transport_url = rabbit://guest:guest@127.0.0.1:${rabbitPort}/`,
      'datastore_manager = postgresql',
      'guest_id = bench-guest',
      `log_dir = ${dir}`,
      'log_file = guest.log',
      '[postgresql]',
      // Trove mounts its data volume unless the device is already mounted: name one that is.
      'device_path = devtmpfs',
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/bin/trove-guestagent', ['--config-file', join(dir, 'guest.conf')], {
    cwd: dir,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DOCKER_HOST: `unix://${socket}` },
    stdio: 'ignore',
  });
  try {
    await sleep(20_000);
    if (child.exitCode !== null) {
      const tail = readFileSync(join(dir, 'guest.log'), 'utf8')
        .split('\n')
        .filter((l) => /CRITICAL/.test(l))
        .slice(-1);
      return { error: `trove-guestagent exited ${child.exitCode}: ${tail.join(' ')}` };
    }
    const kb = median(await sampleRss(child.pid as number, 3000));
    return { idleRssMb: mb(kb), note: 'Trove 18.0.0 (Debian), Docker API stubbed, RabbitMQ unreachable (retrying)' };
  } finally {
    await stop(child);
    docker.close();
    // Trove's postgresql manager chowns the host's /etc/postgresql to its `database` user at start, after which
    // pg_ctlcluster refuses to (re)start the shared cluster: give it back to postgres.
    try {
      execFileSync('chown', ['-R', 'postgres:postgres', '/etc/postgresql'], { stdio: 'ignore' });
    } catch {
      // No PostgreSQL configuration on this machine.
    }
    // Trove's agent creates a `database` unix user at start; leave the machine as we found it.
    if (!hadDatabaseUser) {
      try {
        execFileSync('userdel', ['database'], { stdio: 'ignore' });
      } catch {
        // Not created, or already gone.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (!existsSync(BUNDLE)) {
    log('building the bundle');
    execFileSync('npx', ['tsup', '--config', 'tsup.bundle.config.ts'], {
      cwd: join(REPO, 'packages/agent'),
      stdio: 'ignore',
    });
  }
  const plane = await startControlPlane();
  try {
    log('start → birth');
    const births = await startToBirth(plane, 5);
    log('redis footprint');
    const redis = await prepareFootprint(plane, 'redis');
    log('postgresql footprint');
    const postgresql = await prepareFootprint(plane, 'postgresql');
    log('per Node version');
    const runs = await perNode(plane);
    log('anchors');
    const bareNode = await bareNodeRssMb();
    const bareNodeMtls = await bareNodeMtlsRssMb(plane);
    const trove = await troveGuestAgent();
    const result = {
      setup: `corral-agent bundle (${Math.round(statSync(BUNDLE).size / 1024)} KiB) on node ${process.version} run as the guest image runs it (${[...runtime.flags, ...Object.entries(runtime.env).map(([k, v]) => `${k}=${v}`)].join(' ')}; PATH and the seed only in its environment), embedded aedes broker with mutual TLS on loopback; idle = median RSS over 3 s, 3 s after the first heartbeat`,
      anchor:
        'bare node process, and bare node holding one mutual-TLS socket to the broker (same flags and environment); Trove 18 python guest agent (trove-guestagent) idle',
      agent: {
        startToBirthMs: {
          p50: median(births.wallMs),
          min: Math.min(...births.wallMs),
          max: Math.max(...births.wallMs),
        },
        startCpuMsP50: median(births.cpuMs),
        redis: {
          idleRssMb: redis.idleRssMb,
          prepareRssPeakMb: redis.prepareRssPeakMb,
          afterPrepareRssMb: redis.afterPrepareRssMb,
          prepareMs: redis.prepareMs,
        },
        postgresql: {
          idleRssMb: postgresql.idleRssMb,
          prepareRssPeakMb: postgresql.prepareRssPeakMb,
          afterPrepareRssMb: postgresql.afterPrepareRssMb,
          prepareMs: postgresql.prepareMs,
        },
        bundleBytes: statSync(BUNDLE).size,
      },
      runs,
      bareNodeRssMb: bareNode,
      bareNodeMtlsRssMb: bareNodeMtls,
      idleRssRatio: {
        redis: { toBareNode: ratio(redis.idleRssMb, bareNode), toBareNodeMtls: ratio(redis.idleRssMb, bareNodeMtls) },
        postgresql: {
          toBareNode: ratio(postgresql.idleRssMb, bareNode),
          toBareNodeMtls: ratio(postgresql.idleRssMb, bareNodeMtls),
        },
      },
      troveGuestAgent: trove,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await plane.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench agent failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
