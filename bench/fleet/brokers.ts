/**
 * The two brokers under test, behind one interface: core's embedded aedes (in its own child process) and a
 * private mosquitto (core's `startMosquitto`, generated config and ACL). Memory is the broker process's RSS
 * from /proc; aedes also reports its V8 heap after a GC.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CertificateAuthority, startMosquitto } from '@corral/core';
import { RevocationList } from '@corral/core/pki';
import { endChild, forkChild, killChild, request } from './ipc.js';

export type BrokerKind = 'aedes' | 'mosquitto';

export interface BrokerUnderTest {
  kind: BrokerKind;
  url: string;
  /** What the simulated agents pin (aedes 1.x speaks MQTT 3.1.1 only). */
  protocolVersion: 4 | 5;
  pid(): number | undefined;
  /** False once the broker process is gone without being asked to stop (a crash). */
  alive(): boolean;
  memory(): Promise<{ rss: number; heapUsed?: number }>;
  /** Stops the broker (aedes: SIGKILL, a crash; mosquitto: SIGTERM, it saves its persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** The end of a run: a clean shutdown. */
  close(): Promise<void>;
}

export interface BrokerTls {
  ca: CertificateAuthority;
  cert: string;
  key: string;
}

const aedesChild = join(fileURLToPath(new URL('.', import.meta.url)), 'aedes-broker.ts');

export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** The soft "Max open files" limit of a process (ours when pid is omitted). */
export async function openFilesLimit(pid: number | 'self' = 'self'): Promise<number> {
  const limits = await readFile(`/proc/${pid}/limits`, 'utf8');
  const soft = /Max open files\s+(\S+)/.exec(limits)?.[1];
  return soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft ?? 0);
}

export async function startAedes(tls: BrokerTls): Promise<BrokerUnderTest> {
  const config = { ca: tls.ca.certPem, cert: tls.cert, key: tls.key, port: 0 };
  let child: ChildProcess | undefined;
  const launch = async () => {
    const started = await forkChild(aedesChild, config, { exposeGc: true });
    child = started.child;
    config.port = started.ready.port as number;
  };
  await launch();
  return {
    kind: 'aedes',
    url: `mqtts://127.0.0.1:${config.port}`,
    protocolVersion: 4,
    pid: () => child?.pid,
    alive: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async memory() {
      const reply = await request(child as ChildProcess, { type: 'memory' });
      return { rss: await rssOf(child?.pid ?? 0), heapUsed: reply.heapUsed as number };
    },
    async stop() {
      await killChild(child);
      child = undefined;
    },
    start: launch,
    async close() {
      if (child) await endChild(child);
      child = undefined;
    },
  };
}

export async function startMosq(tls: BrokerTls, dir: string): Promise<BrokerUnderTest> {
  const handle = await startMosquitto({
    dir,
    ca: tls.ca.certPem,
    cert: tls.cert,
    key: tls.key,
    services: ['bench'],
    crlPem: await new RevocationList().toCrlPem(tls.ca),
  });
  return {
    kind: 'mosquitto',
    url: handle.url,
    protocolVersion: 5,
    pid: () => handle.pid(),
    alive: () => handle.pid() !== undefined,
    async memory() {
      return { rss: await rssOf(handle.pid() ?? 0) };
    },
    stop: () => handle.stop(),
    start: () => handle.start(),
    close: () => handle.stop(),
  };
}
