/**
 * Messaging benchmark over the embedded broker (aedes, mutual TLS, ECDSA P-256 certificates):
 *   - call round trip (service → guest → service), sequential: p50/p99/mean, and concurrent throughput;
 *   - cast throughput (QoS 1, acknowledged by the broker, counted when the guest's handler ran);
 *   - broker memory per connected idle client: the broker runs in a child process (so clients' memory does not
 *     count), N TLS clients connect, and the broker's RSS/heap growth is divided by N. The same is measured
 *     for mosquitto when it is installed (scripts/setup/20-mosquitto.sh), as the anchor.
 *
 *   npx tsx bench/messaging.ts         BENCH_CALLS=2000 BENCH_CASTS=20000 BENCH_IDLE_CLIENTS=300
 * Prints one JSON object as its last line.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCa, startBroker, startMosquitto } from '@corral/core';
import { connectMqttTransport, guestIdentity, rpcTopic, serviceIdentity } from '@corral/core/messaging';
import { issueGuestCertificate, issueServerCertificate, issueServiceCertificate } from '@corral/core/pki';
import { connect, type MqttClient } from 'mqtt';
import * as z from 'zod';

const calls = Number(process.env.BENCH_CALLS ?? 2000);
const casts = Number(process.env.BENCH_CASTS ?? 20000);
const idleClients = Number(process.env.BENCH_IDLE_CLIENTS ?? 300);

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;
const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

interface Pems {
  ca: string;
  cert: string;
  key: string;
}

// ---- child mode: a broker alone in its process, reporting its memory on request ------------------------------

async function brokerChild(): Promise<void> {
  const send = (message: unknown) => process.send?.(message);
  let stop: (() => Promise<void>) | undefined;
  // Keeps this process alive between requests whatever the IPC channel's ref state is.
  const keepAlive = setInterval(() => undefined, 60_000);
  process.on('message', async (message: { cmd: string; tls?: Pems }) => {
    if (message.cmd === 'start' && message.tls) {
      const broker = await startBroker({ tls: message.tls });
      stop = broker.stop;
      send({ port: broker.port });
    } else if (message.cmd === 'mem') {
      const gc = (globalThis as { gc?: () => void }).gc;
      for (let i = 0; i < 3; i++) {
        gc?.();
        await new Promise((r) => setTimeout(r, 50));
      }
      const usage = process.memoryUsage();
      send({ rss: usage.rss, heapUsed: usage.heapUsed });
    } else if (message.cmd === 'stop') {
      await stop?.();
      clearInterval(keepAlive);
      process.exit(0);
    }
  });
  // The parent waits for this: a message sent before the handler above exists would be lost.
  send({ ready: true });
}

function request<T>(child: ReturnType<typeof spawn>, message: unknown): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (reply) => resolve(reply as T));
    child.send(message as object);
  });
}

async function connectIdle(
  url: string,
  pems: Pems,
  guestIds: string[],
  certs: Map<string, Pems>,
): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < guestIds.length; i += 50) {
    const batch = guestIds.slice(i, i + 50).map(
      (id) =>
        new Promise<MqttClient>((resolve, reject) => {
          const cert = certs.get(id)!;
          const client = connect(url, {
            clientId: id,
            ca: pems.ca,
            cert: cert.cert,
            key: cert.key,
            protocolVersion: 4,
            reconnectPeriod: 0,
            keepalive: 300,
          });
          client.once('connect', () => {
            client.subscribe(rpcTopic(id), { qos: 1 }, () => resolve(client));
          });
          client.once('error', reject);
        }),
    );
    clients.push(...(await Promise.all(batch)));
  }
  await new Promise((r) => setTimeout(r, 500));
  return clients;
}

async function procRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

// ---- parent mode ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const ca = await createCa({ commonName: 'bench CA' });
  const server = await issueServerCertificate(ca);
  const tls = { ca: ca.certPem, cert: server.certPem, key: server.keyPem };
  const guestCert = await issueGuestCertificate(ca, { guestId: 'bench-guest' });
  const serviceCert = await issueServiceCertificate(ca, { name: 'bench' });

  // 1. call and cast over an in-process aedes.
  const broker = await startBroker({ tls });
  const common = { url: broker.url, ca: ca.certPem, protocolVersion: 4 as const };
  const guest = await connectMqttTransport({
    ...common,
    cert: guestCert.certPem,
    key: guestCert.keyPem,
    identity: guestIdentity('bench-guest'),
  });
  const service = await connectMqttTransport({
    ...common,
    cert: serviceCert.certPem,
    key: serviceCert.keyPem,
    identity: serviceIdentity('bench'),
    outboxLimit: casts,
  });
  let handled = 0;
  let allHandled: () => void = () => undefined;
  await guest.handle(
    rpcTopic('bench-guest'),
    {
      echo: { args: z.object({ n: z.number() }), result: z.object({ n: z.number() }) },
      work: { args: z.object({ n: z.number() }) },
    },
    {
      echo: ({ n }) => ({ n }),
      work: () => {
        handled++;
        if (handled === casts) allHandled();
      },
    },
  );

  for (let i = 0; i < 200; i++) await service.call('bench-guest', 'echo', { n: i });
  const latencies: number[] = [];
  console.error(`[bench] warm-up done`);
  const callStart = performance.now();
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    await service.call('bench-guest', 'echo', { n: i });
    latencies.push(performance.now() - t0);
  }
  const sequentialSeconds = (performance.now() - callStart) / 1000;
  latencies.sort((a, b) => a - b);

  const concurrency = 32;
  const concurrentStart = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < calls) {
        next++;
        await service.call('bench-guest', 'echo', { n: next });
      }
    }),
  );
  const concurrentSeconds = (performance.now() - concurrentStart) / 1000;

  console.error(
    `[bench] calls: ${sequentialSeconds.toFixed(1)} s sequential, ${concurrentSeconds.toFixed(1)} s concurrent`,
  );
  const done = new Promise<void>((resolve) => {
    allHandled = resolve;
  });
  const castStart = performance.now();
  const window = 500;
  for (let i = 0; i < casts; i += window) {
    await Promise.all(
      Array.from({ length: Math.min(window, casts - i) }, (_, j) => service.cast('bench-guest', 'work', { n: i + j })),
    );
  }
  const ackedSeconds = (performance.now() - castStart) / 1000;
  await done;
  const castSeconds = (performance.now() - castStart) / 1000;
  await guest.close();
  await service.close();
  await broker.stop();

  console.error(`[bench] casts: ${castSeconds.toFixed(1)} s`);
  // 2. broker memory per idle client (aedes in a child process).
  const ids = Array.from({ length: idleClients }, (_, i) => `idle-${i}`);
  const certs = new Map<string, Pems>();
  for (const id of ids) {
    const issued = await issueGuestCertificate(ca, { guestId: id });
    certs.set(id, { ca: ca.certPem, cert: issued.certPem, key: issued.keyPem });
  }
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--broker'],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`broker child exited (${code})`)));
  });
  const { port } = await request<{ port: number }>(child, { cmd: 'start', tls });
  const before = await request<{ rss: number; heapUsed: number }>(child, { cmd: 'mem' });
  const idle = await connectIdle(`mqtts://127.0.0.1:${port}`, tls, ids, certs);
  const after = await request<{ rss: number; heapUsed: number }>(child, { cmd: 'mem' });
  for (const client of idle) client.end(true);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send({ cmd: 'stop' });
  await exited;

  // 3. the anchor: mosquitto's memory per idle client, when installed.
  let mosquitto: { rssPerClientKiB: number; rssBeforeMiB: number } | string = 'not installed';
  if (existsSync('/usr/sbin/mosquitto')) {
    const dir = await mkdtemp(join(tmpdir(), 'corral-bench-mosquitto-'));
    try {
      const handle = await startMosquitto({ dir, ...tls, services: ['bench'] });
      const pid = handle.pid()!;
      const rssBefore = await procRss(pid);
      const clients = await connectIdle(handle.url, tls, ids, certs);
      const rssAfter = await procRss(pid);
      for (const client of clients) client.end(true);
      await handle.stop();
      mosquitto = {
        rssPerClientKiB: round((rssAfter - rssBefore) / 1024 / idleClients, 1),
        rssBeforeMiB: round(rssBefore / 1048576, 1),
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  const result = {
    setup: `aedes 1.x in-process, node:tls mutual TLS (ECDSA P-256), MQTT 3.1.1, QoS 1, loopback; ${calls} calls, ${casts} casts, ${idleClients} idle TLS clients; node ${process.version}`,
    anchor: 'mosquitto 2.0 (Debian) memory per idle TLS client on the same machine',
    call: {
      p50Ms: round(percentile(latencies, 50)),
      p99Ms: round(percentile(latencies, 99)),
      meanMs: round(latencies.reduce((a, b) => a + b, 0) / latencies.length),
      sequentialPerSecond: Math.round(calls / sequentialSeconds),
      concurrent32PerSecond: Math.round(calls / concurrentSeconds),
    },
    cast: {
      ackedPerSecond: Math.round(casts / ackedSeconds),
      handledPerSecond: Math.round(casts / castSeconds),
    },
    idleClient: {
      clients: idleClients,
      aedesRssPerClientKiB: round((after.rss - before.rss) / 1024 / idleClients, 1),
      aedesHeapPerClientKiB: round((after.heapUsed - before.heapUsed) / 1024 / idleClients, 1),
      aedesRssBeforeMiB: round(before.rss / 1048576, 1),
      mosquitto,
    },
  };
  console.log(JSON.stringify(result));
}

if (process.argv.includes('--broker')) {
  void brokerChild();
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
