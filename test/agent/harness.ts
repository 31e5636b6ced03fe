/**
 * Shared set-up for the agent suites: a throw-away PKI, the embedded aedes broker with mutual TLS, a control-plane
 * client (service identity) that records heartbeats and births, and real `corral-agent` processes run from source
 * (node + tsx). Needs scripts/setup/30-datastores.sh (redis-server, PostgreSQL 15 binaries, the `postgres` user);
 * every datastore runs on a free loopback port inside a temporary state dir and is killed afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  type AgentConfigInput,
  type BrokerHandle,
  type CertificateAuthority,
  createCa,
  encodeAgentUserData,
  HeartbeatSchema,
  NotifyEndSchema,
  NotifyErrorSchema,
  StatusReportSchema,
  startBroker,
} from '@corral/core';
import { allGuestsTopic, connectMqttTransport, type MqttTransport, serviceIdentity } from '@corral/core/messaging';
import { issueGuestCertificate, issueServerCertificate, issueServiceCertificate } from '@corral/core/pki';
import * as z from 'zod';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'packages/agent/src/cli.ts');

export interface Heartbeat {
  guestId: string;
  bootId: string;
  seq: number;
  at: number;
  instanceId: string;
  serviceStatus: string;
  detail?: string;
  first?: boolean;
}

export interface ConductorMessage {
  method: string;
  guestId: string;
  args: Record<string, unknown>;
  at: number;
}

const HeartbeatPayload = z.looseObject({ first: z.boolean().optional(), detail: z.string().optional() });

export interface ControlPlane {
  ca: CertificateAuthority;
  broker: BrokerHandle;
  service: MqttTransport;
  heartbeats: Heartbeat[];
  /** status_report, notify_end, notify_error, as received. */
  messages: ConductorMessage[];
  births: Array<{ guestId: string; bootId: string; at: number }>;
  /** Resolves with the first heartbeat of `guestId` after index `from` that matches; rejects after `timeoutMs`. */
  waitForHeartbeat(
    guestId: string,
    match: (beat: Heartbeat) => boolean,
    timeoutMs: number,
    from?: number,
  ): Promise<Heartbeat>;
  /** Resolves with the first conductor message `method` of `guestId` after index `from`. */
  waitForMessage(guestId: string, method: string, timeoutMs: number, from?: number): Promise<ConductorMessage>;
  call(guestId: string, method: string, args: Record<string, unknown>, timeoutMs?: number): Promise<unknown>;
  close(): Promise<void>;
}

export async function startControlPlane(): Promise<ControlPlane> {
  const ca = await createCa({ commonName: 'corral agent test CA' });
  const server = await issueServerCertificate(ca);
  const broker = await startBroker({ tls: { ca: ca.certPem, cert: server.certPem, key: server.keyPem } });
  const serviceCert = await issueServiceCertificate(ca, { name: 'agent-test' });
  const service = await connectMqttTransport({
    url: broker.url,
    ca: ca.certPem,
    cert: serviceCert.certPem,
    key: serviceCert.keyPem,
    identity: serviceIdentity('agent-test'),
    protocolVersion: 4,
  });
  const heartbeats: Heartbeat[] = [];
  const messages: ConductorMessage[] = [];
  const births: ControlPlane['births'] = [];
  const record = (method: string) => (args: Record<string, unknown>, context: { guestId?: string }) => {
    messages.push({ method, guestId: context.guestId ?? '?', args, at: Date.now() });
  };
  // Core's conductor message schemas: what the agent sends must pass them.
  await service.handle(
    allGuestsTopic('conductor'),
    {
      heartbeat: { args: HeartbeatSchema },
      status_report: { args: StatusReportSchema },
      notify_end: { args: NotifyEndSchema },
      notify_error: { args: NotifyErrorSchema },
    },
    {
      heartbeat: (args, context) => {
        const payload = HeartbeatPayload.parse(args.payload);
        heartbeats.push({
          instanceId: args.instanceId,
          serviceStatus: args.serviceStatus,
          ...(payload.first !== undefined ? { first: payload.first } : {}),
          ...(payload.detail !== undefined ? { detail: payload.detail } : {}),
          guestId: context.guestId ?? '?',
          bootId: context.bootId,
          seq: context.seq,
          at: Date.now(),
        });
      },
      status_report: record('status_report'),
      notify_end: record('notify_end'),
      notify_error: record('notify_error'),
    },
  );
  await service.watchState((guestId, message) => {
    if (message.state === 'birth') births.push({ guestId, bootId: message.bootId, at: Date.now() });
  });
  return {
    ca,
    broker,
    service,
    heartbeats,
    messages,
    births,
    async waitForHeartbeat(guestId, match, timeoutMs, from = 0) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = heartbeats.slice(from).find((beat) => beat.guestId === guestId && match(beat));
        if (found) return found;
        if (Date.now() > deadline) {
          const seen = heartbeats
            .filter((beat) => beat.guestId === guestId)
            .slice(-5)
            .map((beat) => `${beat.serviceStatus}${beat.detail ? ` (${beat.detail})` : ''}`);
          throw new Error(
            `no matching heartbeat from ${guestId} within ${timeoutMs} ms; last: ${seen.join(', ') || 'none'}`,
          );
        }
        await sleep(25);
      }
    },
    async waitForMessage(guestId, method, timeoutMs, from = 0) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.slice(from).find((m) => m.guestId === guestId && m.method === method);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no ${method} from ${guestId} within ${timeoutMs} ms`);
        await sleep(25);
      }
    },
    call(guestId, method, args, timeoutMs = 60_000) {
      return service.call(guestId, method, args, { timeoutMs });
    },
    async close() {
      await service.close();
      await broker.stop();
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface GuestSetup {
  guestId: string;
  stateDir: string;
  configPath: string;
  config: AgentConfigInput;
}

/** A guest's config (with a certificate issued by the test CA) written as #cloud-config user-data. */
export async function makeGuest(
  plane: ControlPlane,
  options: {
    guestId: string;
    manager: string;
    port?: number;
    heartbeatIntervalSeconds?: number;
    brokerUrl?: string;
    connectTimeoutSeconds?: number;
    managers?: Record<string, string>;
  },
): Promise<GuestSetup> {
  const stateDir = mkdtempSync(join(tmpdir(), `corral-agent-${options.guestId}-`));
  // The postgresql manager runs the server as the `postgres` user, who must be able to walk into the state dir.
  chmodSync(stateDir, 0o711);
  const cert = await issueGuestCertificate(plane.ca, { guestId: options.guestId });
  const config: AgentConfigInput = {
    guestId: options.guestId,
    instanceId: `instance-${options.guestId}`,
    broker: {
      url: options.brokerUrl ?? plane.broker.url,
      caPem: plane.ca.certPem,
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      ...(options.connectTimeoutSeconds ? { connectTimeoutSeconds: options.connectTimeoutSeconds } : {}),
    },
    heartbeatIntervalSeconds: options.heartbeatIntervalSeconds ?? 1,
    datastore: {
      manager: options.manager,
      version: '1',
      bindAddress: '127.0.0.1',
      ...(options.port ? { port: options.port } : {}),
    },
    ...(options.managers ? { managers: options.managers } : {}),
    stateDir: join(stateDir, 'state'),
    logLevel: 'info',
  };
  const configPath = join(stateDir, 'user-data');
  writeFileSync(configPath, encodeAgentUserData(config), { mode: 0o600 });
  return { guestId: options.guestId, stateDir, configPath, config };
}

export interface AgentProcess {
  child: ChildProcess;
  /** stderr so far (the agent's structured log and its fatal message). */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the real agent from source. `args` default to `--config <configPath>`. */
export function startAgent(args: string[], env: Record<string, string> = {}): AgentProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      CORRAL_SEED_PROBE: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => output,
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * Kills every process whose command line or working directory is under `dir`: datastores (redis-server rewrites
 * its command line to "redis-server host:port", but runs in its data dir), an initdb cut off with its agent.
 */
export async function killProcessesUnder(dir: string): Promise<void> {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${entry}/cwd`);
      } catch {
        // Not ours to read, or gone.
      }
      if (cmdline.includes(dir) || cwd.startsWith(dir)) pids.push(Number(entry));
    } catch {
      // Gone already.
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  const deadline = Date.now() + 5000;
  while (pids.some((pid) => isAlive(pid)) && Date.now() < deadline) await sleep(50);
  const left = pids.filter((pid) => isAlive(pid));
  if (left.length > 0) throw new Error(`processes under ${dir} survived SIGKILL: ${left.join(', ')}`);
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

/** Stops agents, kills the guest's datastore processes, removes its files. */
export async function cleanupGuest(guest: GuestSetup | undefined, agents: AgentProcess[]): Promise<void> {
  for (const agent of agents) await agent.kill('SIGKILL');
  if (!guest) return;
  await killProcessesUnder(guest.stateDir);
  rmSync(guest.stateDir, { recursive: true, force: true });
}

/** The args of a prepare cast for `manager` (the contract requires datastore and memoryMb). */
export function prepareArgs(manager: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { datastore: { manager, version: '1' }, memoryMb: 512, ...extra };
}

export function readPid(path: string): number {
  return Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
}
