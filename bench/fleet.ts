/**
 * Fleet scale: N simulated agents over mutual TLS (one guest certificate each) on one broker, the embedded
 * aedes and mosquitto. Per size and broker:
 *   - connectSeconds: time for all N to connect (TLS + CONNACK), at most CONNECT_CONCURRENCY handshakes at once;
 *   - memory per connection: aedes runs alone in a child process (heap and RSS deltas over the idle broker,
 *     after a GC); mosquitto's RSS is read from /proc/<pid>/status;
 *   - conductor CPU: a conductor-only control plane (SQLite store holding the N instances) in its own child
 *     process, while every agent casts one heartbeat every 10 s; process.cpuUsage over a WINDOW_S window;
 *   - reconnectSeconds: time for all N to be connected again after the broker is stopped and started.
 * The agents are bare MQTT.js clients in this process, sending real heartbeat envelopes on their own conductor
 * topic. Loopback only; every size has a hard cap (SIZE_CAP_MS) and what completed is reported (`completed`).
 * Environment: BENCH_FLEET_SIZES (default "1000,5000,10000"; 10,000 only runs when 5,000 took under
 * BIG_SIZE_BUDGET_MS per broker), BENCH_FLEET_WINDOW_S (default 20).
 * Anchor: Trove has no broker of its own to compare (RabbitMQ, one queue per guest); the aim is to show the
 * 10,000-guest design target fits one broker.
 *
 * Roles: run without arguments it is the benchmark; `--role broker|conductor` is one of its child processes.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  conductorTopic,
  createCa,
  createControlPlane,
  createDefaultCatalog,
  createSqliteStore,
  encodeEnvelope,
  issueGuestCertificate,
  issueServerCertificate,
  issueServiceCertificate,
  RevocationList,
  startBroker,
  startMosquitto,
} from '@corral/core';
import { FakeProvider } from '@corral/core/testing';
import { connect, type MqttClient } from 'mqtt';
import pino from 'pino';

const HEARTBEAT_S = 10;
const WINDOW_S = Number(process.env.BENCH_FLEET_WINDOW_S ?? 20);
const SIZE_CAP_MS = 5 * 60_000;
const BIG_SIZE_BUDGET_MS = 150_000;
const CONNECT_CONCURRENCY = 200;
const RECONNECT_CAP_MS = 60_000;

type Message = { type: string; [key: string]: unknown };

// ---------------------------------------------------------------- child roles

async function brokerRole(config: { ca: string; cert: string; key: string; port: number }) {
  const broker = await startBroker({
    tls: { ca: config.ca, cert: config.cert, key: config.key },
    revocations: new RevocationList(),
    port: config.port,
  });
  process.on('message', (message: Message) => {
    if (message.type === 'memory') {
      globalThis.gc?.();
      const { heapUsed, rss } = process.memoryUsage();
      process.send?.({ type: 'memory', heapUsed, rss, clients: broker.aedes.connectedClients });
    }
  });
  process.send?.({ type: 'ready', port: broker.port, url: broker.url });
}

async function conductorRole(config: {
  url: string;
  ca: string;
  cert: string;
  key: string;
  guests: number;
  dir: string;
}) {
  const store = await createSqliteStore({ path: join(config.dir, 'conductor.db') });
  for (let i = 0; i < config.guests; i++) {
    await store.createInstance({
      id: `agent-${i}`,
      name: `agent-${i}`,
      projectId: 'bench',
      provider: 'fake',
      flavor: 'small',
      image: 'corral-guest',
      datastore: { type: 'redis', version: '7' },
      taskStatus: 'NONE',
    });
  }
  const plane = await createControlPlane({
    store,
    broker: {
      url: config.url,
      serviceName: 'bench',
      caPem: config.ca,
      certPem: config.cert,
      keyPem: config.key,
      protocolVersion: 'auto',
    },
    providers: { fake: new FakeProvider() },
    datastores: createDefaultCatalog(),
    roles: ['conductor'],
    heartbeat: { intervalSeconds: HEARTBEAT_S, expiryMs: 3_600_000 },
    logger: pino({ level: 'silent' }),
  });
  let mark = { cpu: process.cpuUsage(), at: performance.now(), applied: 0 };
  process.on('message', async (message: Message) => {
    if (message.type === 'start-window') {
      mark = { cpu: process.cpuUsage(), at: performance.now(), applied: plane.conductor?.metrics.applied ?? 0 };
      process.send?.({ type: 'window-started' });
    } else if (message.type === 'end-window') {
      const cpu = process.cpuUsage(mark.cpu);
      const seconds = (performance.now() - mark.at) / 1000;
      process.send?.({
        type: 'window',
        cpuPercent: ((cpu.user + cpu.system) / 1000 / (seconds * 1000)) * 100,
        seconds,
        applied: (plane.conductor?.metrics.applied ?? 0) - mark.applied,
      });
    } else if (message.type === 'stop') {
      await plane.close();
      await store.close();
      process.exit(0);
    }
  });
  process.send?.({ type: 'ready' });
}

// ---------------------------------------------------------------- helpers for the benchmark

const self = fileURLToPath(import.meta.url);
const children = new Set<ChildProcess>();

function spawnRole(role: string, config: unknown): Promise<{ child: ChildProcess; ready: Message }> {
  const child = fork(self, ['--role', role], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: { ...process.env, FLEET_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    child.once('message', (ready: Message) => resolve({ child, ready }));
    child.once('exit', (code) => reject(new Error(`${role} child exited with ${code}`)));
  });
}

function ask(child: ChildProcess, type: string, reply: string): Promise<Message> {
  return new Promise((resolve) => {
    const on = (message: Message) => {
      if (message.type !== reply) return;
      child.off('message', on);
      resolve(message);
    };
    child.on('message', on);
    child.send({ type });
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const progress = (what: string) => process.env.BENCH_FLEET_DEBUG && process.stderr.write(`fleet: ${what}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, deadline: number, what: string): Promise<void> {
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`cap reached waiting for ${what}`);
    await sleep(50);
  }
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

interface Agent {
  id: string;
  cert: string;
  key: string;
  client?: MqttClient;
  seq: number;
  bootId: string;
}

function connectAgent(agent: Agent, url: string, ca: string, protocolVersion: 4 | 5): Promise<void> {
  return new Promise((resolve, reject) => {
    const client = connect(url, {
      clientId: agent.id,
      ca,
      cert: agent.cert,
      key: agent.key,
      protocolVersion,
      keepalive: 60,
      // After a broker restart every agent retries; a random spread keeps them from arriving in lock-step.
      reconnectPeriod: 1000 + Math.floor(Math.random() * 2000),
      connectTimeout: 30_000,
    });
    agent.client = client;
    client.on('error', () => undefined);
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
}

async function connectAll(agents: Agent[], url: string, ca: string, protocolVersion: 4 | 5): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < agents.length) {
      const agent = agents[next++] as Agent;
      await connectAgent(agent, url, ca, protocolVersion);
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
}

function beat(agent: Agent): void {
  agent.seq++;
  agent.client?.publish(
    conductorTopic(agent.id),
    encodeEnvelope({
      v: 1,
      id: randomUUID(),
      from: agent.id,
      bootId: agent.bootId,
      seq: agent.seq,
      sentAt: Date.now(),
      ttlMs: 60_000,
      kind: 'cast',
      method: 'heartbeat',
      args: { instanceId: agent.id, serviceStatus: 'HEALTHY' },
    }),
    { qos: 1 },
  );
}

// ---------------------------------------------------------------- the benchmark

interface BrokerUnderTest {
  url: string;
  protocolVersion: 4 | 5;
  memory(): Promise<{ rss: number; heapUsed?: number }>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function main() {
  const sizes = (process.env.BENCH_FLEET_SIZES ?? '1000,5000,10000').split(',').map(Number);
  const dir = await mkdtemp(join(tmpdir(), 'corral-fleet-'));
  const ca = await createCa({ commonName: 'corral fleet bench CA' });
  const server = await issueServerCertificate(ca);
  const service = await issueServiceCertificate(ca, { name: 'bench' });
  const results: Record<string, Record<string, unknown>> = { aedes: {}, mosquitto: {} };
  const completed: Record<string, number[]> = { aedes: [], mosquitto: [] };
  const agents: Agent[] = [];
  let certSeconds = 0;

  async function ensureAgents(n: number) {
    const started = performance.now();
    while (agents.length < n) {
      const id = `agent-${agents.length}`;
      const cert = await issueGuestCertificate(ca, { guestId: id });
      agents.push({ id, cert: cert.certPem, key: cert.keyPem, seq: 0, bootId: randomUUID() });
    }
    certSeconds += (performance.now() - started) / 1000;
  }

  async function startAedes(): Promise<BrokerUnderTest> {
    const config = { ca: ca.certPem, cert: server.certPem, key: server.keyPem, port: 0 };
    let { child, ready } = await spawnRole('broker', config);
    config.port = ready.port as number;
    return {
      url: ready.url as string,
      protocolVersion: 4,
      async memory() {
        const m = await ask(child, 'memory', 'memory');
        return { rss: m.rss as number, heapUsed: m.heapUsed as number };
      },
      async restart() {
        await stopChild(child);
        ({ child } = await spawnRole('broker', config));
      },
      stop: () => stopChild(child),
    };
  }

  async function startMosq(): Promise<BrokerUnderTest> {
    const mdir = join(dir, `mosquitto-${Date.now()}`);
    const handle = await startMosquitto({
      dir: mdir,
      ca: ca.certPem,
      cert: server.certPem,
      key: server.keyPem,
      services: ['bench'],
      crlPem: await new RevocationList().toCrlPem(ca),
    });
    return {
      url: handle.url,
      protocolVersion: 5,
      async memory() {
        return { rss: await rssOf(handle.pid() ?? 0) };
      },
      async restart() {
        await handle.stop();
        await handle.start();
      },
      async stop() {
        await handle.stop();
      },
    };
  }

  async function runSize(kind: 'aedes' | 'mosquitto', n: number): Promise<Record<string, number>> {
    const deadline = Date.now() + SIZE_CAP_MS;
    const fleet = agents.slice(0, n);
    const broker = kind === 'aedes' ? await startAedes() : await startMosq();
    let conductor: ChildProcess | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      progress(`${kind} ${n}: broker up`);
      const idle = await broker.memory();
      progress('idle memory read');
      const connectStarted = performance.now();
      let connected = false;
      await Promise.race([
        connectAll(fleet, broker.url, ca.certPem, broker.protocolVersion).then(() => {
          connected = true;
        }),
        until(() => connected, deadline, 'connect'),
      ]);
      const connectSeconds = (performance.now() - connectStarted) / 1000;
      progress(`connected in ${connectSeconds} s`);
      await sleep(1000);
      const loaded = await broker.memory();

      // Conductor in its own process, heartbeats spread evenly over the 10 s interval.
      const conductorDir = await mkdtemp(join(dir, 'conductor-'));
      ({ child: conductor } = await spawnRole('conductor', {
        url: broker.url,
        ca: ca.certPem,
        cert: service.certPem,
        key: service.keyPem,
        guests: n,
        dir: conductorDir,
      }));
      progress('conductor up');
      const perTick = Math.max(1, Math.round(n / (HEARTBEAT_S * 10)));
      let cursor = 0;
      timer = setInterval(() => {
        for (let i = 0; i < perTick; i++) beat(fleet[cursor++ % n] as Agent);
      }, 100);
      await sleep(HEARTBEAT_S * 1000); // one full round first
      await ask(conductor, 'start-window', 'window-started');
      await sleep(WINDOW_S * 1000);
      const window = await ask(conductor, 'end-window', 'window');
      clearInterval(timer);
      timer = undefined;

      progress('window done');
      const restartStarted = performance.now();
      await broker.restart();
      progress('broker restarted');
      await sleep(200);
      // Reconnection is bounded: what matters is how many came back, and how fast.
      const reconnectDeadline = Math.min(deadline, Date.now() + RECONNECT_CAP_MS);
      let back = 0;
      let allBackAt: number | undefined;
      while (Date.now() < reconnectDeadline) {
        back = fleet.filter((a) => a.client?.connected).length;
        if (back === n) {
          allBackAt = performance.now();
          break;
        }
        await sleep(50);
      }
      progress(`${back}/${n} reconnected`);
      const reconnectSeconds = allBackAt === undefined ? undefined : (allBackAt - restartStarted) / 1000;

      const perConnection = (loaded.rss - idle.rss) / n;
      return {
        agents: n,
        connectSeconds: Number(connectSeconds.toFixed(2)),
        connectsPerSecond: Math.round(n / connectSeconds),
        brokerRssMiB: Number((loaded.rss / 2 ** 20).toFixed(1)),
        rssPerConnectionKiB: Number((perConnection / 1024).toFixed(1)),
        ...(loaded.heapUsed !== undefined &&
          idle.heapUsed !== undefined && {
            heapPerConnectionKiB: Number(((loaded.heapUsed - idle.heapUsed) / n / 1024).toFixed(1)),
          }),
        heartbeatsPerSecond: Number(((window.applied as number) / (window.seconds as number)).toFixed(1)),
        conductorCpuPercent: Number((window.cpuPercent as number).toFixed(2)),
        reconnectedWithinCapPercent: Number(((back / n) * 100).toFixed(1)),
        ...(reconnectSeconds !== undefined && { reconnectSeconds: Number(reconnectSeconds.toFixed(2)) }),
      };
    } finally {
      if (timer) clearInterval(timer);
      await Promise.all(fleet.map((a) => a.client?.endAsync(true).catch(() => undefined)));
      for (const a of fleet) a.client = undefined;
      if (conductor && conductor.exitCode === null) {
        const exited = new Promise((resolve) => conductor?.once('exit', resolve));
        conductor.send({ type: 'stop' });
        await Promise.race([exited, sleep(5_000)]);
      }
      await stopChild(conductor);
      await broker.stop().catch(() => undefined);
    }
  }

  try {
    for (const n of sizes) {
      let slowest = 0;
      for (const kind of ['aedes', 'mosquitto'] as const) {
        if (n > 5000 && (completed[kind] ?? []).length > 0 && slowest > BIG_SIZE_BUDGET_MS) break;
        await ensureAgents(n);
        const started = Date.now();
        try {
          results[kind] = { ...results[kind], [`n${n}`]: await runSize(kind, n) };
          completed[kind]?.push(n);
        } catch (error) {
          process.stderr.write(`fleet: ${kind} at ${n} did not complete: ${String(error)}\n`);
        }
        slowest = Math.max(slowest, Date.now() - started);
        process.stderr.write(`fleet: ${kind} ${n} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      }
      if (n >= 5000 && slowest > BIG_SIZE_BUDGET_MS) {
        process.stderr.write(`fleet: ${n} took ${Math.round(slowest / 1000)} s per broker; larger sizes skipped\n`);
        break;
      }
    }
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }

  console.log(
    JSON.stringify({
      setup: `agents: bare MQTT.js clients over mutual TLS (own ECDSA certificate each) in one Node process, one heartbeat per ${HEARTBEAT_S} s each; aedes in a child process; conductor-only control plane (SQLite) in a child process, CPU over ${WINDOW_S} s; sizes completed: aedes ${completed.aedes?.join('/') || 'none'}, mosquitto ${completed.mosquitto?.join('/') || 'none'}`,
      anchor: 'design target: 10,000 guests on one broker (Trove: one RabbitMQ queue per guest, no published figure)',
      completed: Object.fromEntries(Object.entries(completed).map(([k, v]) => [k, v.join(',')])),
      certificateIssueSeconds: Number(certSeconds.toFixed(1)),
      aedes: results.aedes,
      mosquitto: results.mosquitto,
    }),
  );
}

const roleIndex = process.argv.indexOf('--role');
if (roleIndex >= 0) {
  const config = JSON.parse(process.env.FLEET_CONFIG ?? '{}');
  const role = process.argv[roleIndex + 1];
  if (role === 'broker') await brokerRole(config);
  else if (role === 'conductor') await conductorRole(config);
} else {
  process.stderr.write('fleet: starting\n');
  await main();
  process.exit(0);
}
