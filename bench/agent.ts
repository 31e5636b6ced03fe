/**
 * Agent footprint: resident memory of the guest agent bundle (packages/agent/dist/corral-agent.mjs, run by plain
 * `node` as in a guest) idle and during prepare of redis and PostgreSQL, and the time from process start to its
 * birth message on the embedded broker (aedes, mutual TLS). Anchors: a bare `node` process, and Trove's Python
 * guest agent (Debian's trove-guestagent, when installed: `apt-get install trove-guestagent`).
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

function runBundle(guest: GuestSetup): ChildProcess {
  return spawn(process.execPath, [BUNDLE], {
    cwd: tmpdir(),
    env: { PATH: '/usr/bin:/bin', CORRAL_SEED_DIR: guest.stateDir, CORRAL_SEED_PROBE: '0' },
    stdio: 'ignore',
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
}

async function startToBirth(plane: ControlPlane, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const guest = await makeGuest(plane, { guestId: `birth-${i}`, manager: 'redis', port: await freePort() });
    const started = Date.now();
    const child = runBundle(guest);
    const deadline = started + 30_000;
    let birth: number | undefined;
    while (birth === undefined && Date.now() < deadline) {
      birth = plane.births.find((b) => b.guestId === guest.guestId && b.at >= started)?.at;
      if (birth === undefined) await sleep(5);
    }
    await stop(child);
    await cleanupGuest(guest, []);
    if (birth === undefined) throw new Error(`no birth from ${guest.guestId}`);
    times.push(birth - started);
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

async function bareNodeRssMb(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(1500);
  const kb = median(await sampleRss(child.pid as number, 1000));
  await stop(child);
  return mb(kb);
}

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
    log('anchors');
    const bareNode = await bareNodeRssMb();
    const trove = await troveGuestAgent();
    const result = {
      setup: `corral-agent bundle (${Math.round(statSync(BUNDLE).size / 1024)} KiB) on node ${process.version}, embedded aedes broker with mutual TLS on loopback`,
      anchor: 'bare node process; Trove 18 python guest agent (trove-guestagent) idle',
      agent: {
        startToBirthMs: { p50: median(births), min: Math.min(...births), max: Math.max(...births) },
        idleRssMb: redis.idleRssMb,
        redis: {
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
      bareNodeRssMb: bareNode,
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
