/**
 * Fleet scale: N simulated agents (1,000, 5,000, 10,000) over mutual TLS on one broker, core's embedded aedes
 * and mosquitto. Per broker and size:
 *   - connectSeconds: time for all N to connect (TLS handshake with the agent's own certificate, CONNACK,
 *     rpc subscription and retained birth), CONNECT_CONCURRENCY handshakes in flight per agent host;
 *   - rssPerConnectionKiB: (broker RSS with the N agents − broker RSS with only the conductor) / N, read from
 *     /proc for the broker process alone (aedes runs in its own child process; heap after a GC too);
 *   - conductorCpuPercent: CPU seconds of the conductor process per wall second (% of one core) over WINDOW_S,
 *     while every agent casts one heartbeat every 10 s; the conductor is core's (`createControlPlane`, role
 *     conductor) ingesting into SQLite;
 *   - reconnectSeconds: after the broker is stopped and started again, from the moment it accepts connections
 *     until every agent has a new session (agents use the transport's jittered back-off, 200 ms to 30 s).
 * It verifies itself: all N connected, every heartbeat the broker acknowledged was received and applied by the
 * conductor, every instance's last-seen reached the store, all N reconnected; otherwise it exits 1.
 *
 * Process layout: this process only orchestrates; agents live in AGENT_HOSTS child processes (bench/fleet/
 * agent-host.ts), the conductor and aedes in their own. Needs `ulimit -n` above N + 100 for the broker (the
 * children inherit ours; mosquitto 2.0 has no connection cap unless max_connections is set, and ours is not).
 * Environment: BENCH_FLEET_SIZES (default "1000,5000,10000"), BENCH_FLEET_WINDOW_S (default 30),
 * BENCH_FLEET_HOSTS (agent host processes, default 3), BENCH_FLEET_BROKERS (default "aedes,mosquitto"),
 * BENCH_FLEET_BUDGET_S (default: the harness's BENCH_TIMEOUT_S, else 1200, less 120; a run whose estimate from
 * the previous size does not fit in what is left is skipped and named in `setup`).
 * Reproduce: `ulimit -n 20000; npm run bench -- fleet` (~17-19 min here) or `node --import tsx bench/fleet.ts`.
 * Setup: scripts/setup/20-mosquitto.sh (the mosquitto binary).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCa } from '@corral/core';
import { issueServerCertificate, issueServiceCertificate } from '@corral/core/pki';
import {
  type BrokerKind,
  type BrokerTls,
  type BrokerUnderTest,
  openFilesLimit,
  startAedes,
  startMosq,
} from './fleet/brokers.js';
import { endChild, forkChild, killAllChildren, killChild, request, sleep } from './fleet/ipc.js';

const HEARTBEAT_S = 10;
const WINDOW_S = Number(process.env.BENCH_FLEET_WINDOW_S ?? 30);
const HOSTS = Number(process.env.BENCH_FLEET_HOSTS ?? 3);
// The harness says how long it gives us (BENCH_TIMEOUT_S); keep two minutes for the last run's cleanup.
const BUDGET_MS = Number(process.env.BENCH_FLEET_BUDGET_S ?? Number(process.env.BENCH_TIMEOUT_S ?? 1200) - 120) * 1000;
const SIZES = (process.env.BENCH_FLEET_SIZES ?? '1000,5000,10000').split(',').map(Number);
const BROKERS = (process.env.BENCH_FLEET_BROKERS ?? 'aedes,mosquitto').split(',') as BrokerKind[];
const CONNECT_CONCURRENCY = 64;
const CONNECT_CAP_MS = 180_000;
const RECONNECT_CAP_MS = 180_000;
const VERIFY_WAIT_MS = 30_000;

const here = join(fileURLToPath(new URL('.', import.meta.url)), 'fleet');
const log = (what: string) => process.stderr.write(`fleet: ${what}\n`);
const round = (value: number, digits = 2) => Number(value.toFixed(digits));
const load1 = () => round(loadavg()[0] ?? 0);

class VerificationError extends Error {}

function check(condition: boolean, what: string): void {
  if (!condition) throw new VerificationError(what);
}

/** Resolves with `work`, or rejects as soon as the broker process is found dead (it crashed). */
async function whileAlive<T>(broker: BrokerUnderTest, work: Promise<T>): Promise<T> {
  let done = false;
  const watch = (async () => {
    while (!done) {
      if (!broker.alive()) throw new VerificationError(`${broker.kind} exited (crashed)`);
      await sleep(250);
    }
  })();
  try {
    return await Promise.race([work, watch.then(() => work)]);
  } finally {
    done = true;
  }
}

async function all(hosts: ChildProcess[], type: string, extra: Record<string, unknown> = {}) {
  return Promise.all(hosts.map((host) => request(host, { type, ...extra })));
}

const sum = (replies: Record<string, unknown>[], key: string) =>
  replies.reduce((total, reply) => total + (reply[key] as number), 0);

async function main() {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'corral-fleet-'));
  const ca = await createCa({ commonName: 'corral fleet bench CA' });
  const server = await issueServerCertificate(ca);
  const service = await issueServiceCertificate(ca, { name: 'bench' });
  const tls: BrokerTls = { ca, cert: server.certPem, key: server.keyPem };
  const ownLimit = await openFilesLimit();
  const biggest = Math.max(...SIZES);
  if (ownLimit < biggest + 100) {
    throw new Error(
      `ulimit -n is ${ownLimit}; ${biggest} agents need at least ${biggest + 100} (run: ulimit -n 20000)`,
    );
  }
  const loadAtStart = load1();
  const runs: Record<string, Record<string, number>> = {};
  const completed: Record<BrokerKind, number[]> = { aedes: [], mosquitto: [] };
  const skipped: string[] = [];
  const failures: string[] = [];
  let certificateSeconds = 0;
  let mosquittoFileLimit: number | undefined;

  const hosts = (
    await Promise.all(
      Array.from({ length: HOSTS }, (_, host) =>
        forkChild(join(here, 'agent-host.ts'), { caCertPem: ca.certPem, caKeyPem: ca.keyPem, host, hosts: HOSTS }),
      ),
    )
  ).map((started) => started.child);

  async function runOne(kind: BrokerKind, n: number): Promise<Record<string, number>> {
    const broker: BrokerUnderTest =
      kind === 'aedes' ? await startAedes(tls) : await startMosq(tls, join(dir, `mosquitto-${n}`));
    let conductor: ChildProcess | undefined;
    try {
      if (kind === 'mosquitto') mosquittoFileLimit = await openFilesLimit(broker.pid() ?? 0);
      const conductorDir = await mkdtemp(join(dir, 'conductor-'));
      let seeded: Record<string, unknown>;
      ({ child: conductor, ready: seeded } = await forkChild(join(here, 'conductor.ts'), {
        url: broker.url,
        ca: ca.certPem,
        cert: service.certPem,
        key: service.keyPem,
        agents: n,
        dir: conductorDir,
        heartbeatSeconds: HEARTBEAT_S,
      }));
      log(`${kind} ${n}: conductor up (${n} instances seeded in ${(seeded.seedSeconds as number).toFixed(1)} s)`);
      await sleep(500);
      const idle = await broker.memory();

      log(`${kind} ${n}: connecting`);
      const connectStarted = Date.now();
      const connected = await whileAlive(
        broker,
        all(hosts, 'connect', {
          n,
          url: broker.url,
          protocolVersion: broker.protocolVersion,
          concurrency: CONNECT_CONCURRENCY,
          timeoutMs: CONNECT_CAP_MS,
        }),
      );
      const connectSeconds = (Math.max(...connected.map((r) => r.at as number)) - connectStarted) / 1000;
      check(sum(connected, 'agents') === n, `${sum(connected, 'agents')} agents hosted, expected ${n}`);
      check(sum(connected, 'connected') === n, `only ${sum(connected, 'connected')} of ${n} connected`);
      log(`${kind} ${n}: all connected in ${connectSeconds.toFixed(1)} s`);
      await sleep(2000);
      const loaded = await broker.memory();

      // One full heartbeat round before the window, so the window sees the steady state.
      const beatsStarted = Date.now();
      await all(hosts, 'startBeats', { intervalMs: HEARTBEAT_S * 1000 });
      await sleep(HEARTBEAT_S * 1000);
      await request(conductor, { type: 'startWindow' });
      await sleep(WINDOW_S * 1000);
      const window = await request(conductor, { type: 'endWindow' });
      const beats = await all(hosts, 'stopBeats');
      const sent = sum(beats, 'sent');
      const acked = sum(beats, 'acked');
      const verify = await request(conductor, {
        type: 'verify',
        expected: acked,
        timeoutMs: VERIFY_WAIT_MS,
        since: beatsStarted,
      });
      log(`${kind} ${n}: ${acked}/${sent} heartbeats acked, ${verify.applied} applied, ${verify.heard} heard`);
      check(acked === sent, `${sent - acked} of ${sent} heartbeats not acknowledged by the broker`);
      check(verify.received === acked, `conductor received ${verify.received} heartbeats, agents sent ${acked}`);
      check(verify.applied === acked, `conductor applied ${verify.applied} of ${acked} heartbeats`);
      check(verify.heard === n, `${verify.heard} of ${n} instances have a fresh heartbeat in the store`);

      await all(hosts, 'markReconnects');
      const stopAt = Date.now();
      await broker.stop();
      await broker.start();
      const upAt = Date.now();
      const back = await whileAlive(broker, all(hosts, 'watchReconnect', { capMs: RECONNECT_CAP_MS }));
      const reconnectSeconds = (Math.max(...back.map((r) => r.at as number)) - upAt) / 1000;
      check(sum(back, 'back') === n, `only ${sum(back, 'back')} of ${n} reconnected within ${RECONNECT_CAP_MS} ms`);
      log(`${kind} ${n}: all reconnected ${reconnectSeconds.toFixed(1)} s after the restart`);

      return {
        agents: n,
        connectSeconds: round(connectSeconds),
        connectsPerSecond: Math.round(n / connectSeconds),
        brokerIdleRssMiB: round(idle.rss / 2 ** 20, 1),
        brokerRssMiB: round(loaded.rss / 2 ** 20, 1),
        rssPerConnectionKiB: round((loaded.rss - idle.rss) / n / 1024, 1),
        ...(loaded.heapUsed !== undefined &&
          idle.heapUsed !== undefined && {
            heapPerConnectionKiB: round((loaded.heapUsed - idle.heapUsed) / n / 1024, 1),
          }),
        conductorCpuPercent: round(((window.cpuSeconds as number) / (window.seconds as number)) * 100),
        conductorHeartbeatsPerSecond: round((window.applied as number) / (window.seconds as number), 1),
        conductorRssMiB: round((window.rss as number) / 2 ** 20, 1),
        heartbeatsAcked: acked,
        heartbeatsApplied: verify.applied as number,
        brokerRestartSeconds: round((upAt - stopAt) / 1000),
        reconnectSeconds: round(reconnectSeconds),
        loadAverage1m: load1(),
      };
    } finally {
      await all(hosts, 'stopBeats').catch(() => undefined);
      await all(hosts, 'close').catch(() => undefined);
      if (conductor) await request(conductor, { type: 'stop' }).catch(() => undefined);
      await killChild(conductor);
      await broker.close().catch(() => undefined);
    }
  }

  const durations = new Map<string, number>();
  try {
    for (const n of SIZES) {
      const issued = await all(hosts, 'issue', { n });
      certificateSeconds += Math.max(...issued.map((r) => r.seconds as number));
      for (const kind of BROKERS) {
        // Skip a size that cannot finish in the harness's time: estimate it from the last size on this broker.
        const previous = [...durations.entries()].filter(([key]) => key.startsWith(kind)).pop();
        const estimate = previous ? (previous[1] * n) / Number(previous[0].split('/')[1]) : 0;
        const left = BUDGET_MS - (Date.now() - started);
        if (estimate > left) {
          skipped.push(`${kind}/${n} (estimated ${Math.round(estimate / 1000)} s, ${Math.round(left / 1000)} s left)`);
          log(
            `${kind} ${n}: skipped, estimated ${Math.round(estimate / 1000)} s with ${Math.round(left / 1000)} s left`,
          );
          continue;
        }
        const runStarted = Date.now();
        try {
          runs[`${kind}/${n}`] = await runOne(kind, n);
          completed[kind].push(n);
        } catch (error) {
          failures.push(`${kind}/${n}: ${(error as Error).message}`);
          log(`${kind} ${n} FAILED: ${(error as Error).message}`);
        }
        durations.set(`${kind}/${n}`, Date.now() - runStarted);
        log(`${kind} ${n}: ${Math.round((Date.now() - runStarted) / 1000)} s`);
      }
    }
  } finally {
    await Promise.all(hosts.map((host) => endChild(host)));
    killAllChildren();
    await rm(dir, { recursive: true, force: true });
  }

  const sizes = (kind: BrokerKind) => completed[kind].join('/') || 'none';
  console.log(
    JSON.stringify({
      setup:
        `${HOSTS} agent processes of simulated agents, each the core MQTT transport with its own ECDSA P-256 ` +
        `guest certificate (persistent session, rpc subscription, retained birth, will; MQTT 3.1.1 on aedes, 5 on ` +
        `mosquitto), ${CONNECT_CONCURRENCY} handshakes in flight per process, one heartbeat per ${HEARTBEAT_S} s each; ` +
        `aedes (core's embedded broker) in its own process; mosquitto 2.0 (core's generated config); core conductor ` +
        `(SQLite store) in its own process, CPU over ${WINDOW_S} s; broker restart = aedes SIGKILL / mosquitto ` +
        `SIGTERM, then start on the same port. ulimit -n ${ownLimit}` +
        `${mosquittoFileLimit ? ` (mosquitto ${mosquittoFileLimit}, max_connections unset)` : ''}. ` +
        `Load average (1 min) ${loadAtStart} at start, ${load1()} at end (other work shares the 2 cores). ` +
        `Completed: aedes ${sizes('aedes')}, mosquitto ${sizes('mosquitto')}` +
        `${skipped.length > 0 ? `; skipped for time: ${skipped.join(', ')}` : ''}` +
        `${failures.length > 0 ? `; FAILED: ${failures.join('; ')}` : ''}. ` +
        'Reproduce: scripts/setup/20-mosquitto.sh, `ulimit -n 20000`, `npm run bench -- fleet`.',
      anchor:
        'design target: 10,000 guests on one broker and one conductor process. Trove gives every guest its ' +
        'own RabbitMQ queue and publishes no fleet figure, so there is no ratio.',
      runs,
      certificateIssueSeconds: round(certificateSeconds, 1),
      loadAverage1m: { start: loadAtStart, end: load1() },
      openFilesLimit: ownLimit,
    }),
  );
  if (failures.length > 0) process.exitCode = 1;
}

log('starting');
await main();
process.exit();
