/** Spawns and steers worker-child.ts processes for the crash and multi-process suites. */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { issueServiceCertificate } from '@corral/core/pki';
import { FAST, type TestEnv } from './harness.js';
import type { ChildConfig } from './worker-child.js';

const here = fileURLToPath(new URL('.', import.meta.url));
let counter = 0;

export interface Child {
  process: ChildProcess;
  /** Starts the loaded child's control plane; resolves once it is READY. */
  start(): Promise<void>;
  lines: string[];
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(): Promise<void>;
}

export async function spawnChild(
  env: TestEnv,
  options: {
    dir: string;
    store: ChildConfig['store'];
    providerUrl: string;
    roles?: ChildConfig['roles'];
    crashAt?: string;
    brokerUrl?: string;
    protocolVersion?: 4 | 5;
    serviceName?: string;
    buildMs?: number;
    /** false: return once loaded; call `start()` later (warm spare). */
    start?: boolean;
  },
): Promise<Child> {
  const serviceName = options.serviceName ?? `worker${process.pid}x${counter++}`;
  const cert = await issueServiceCertificate(env.ca, { name: serviceName });
  const config: ChildConfig = {
    store: options.store,
    broker: {
      url: options.brokerUrl ?? env.broker.url,
      caPem: env.ca.certPem,
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      serviceName,
      protocolVersion: options.protocolVersion ?? env.broker.protocolVersion,
    },
    ca: { certPem: env.ca.certPem, keyPem: env.ca.keyPem },
    providerUrl: options.providerUrl,
    roles: options.roles ?? ['taskmanager'],
    crashAt: options.crashAt,
    settings: {
      heartbeat: { ...FAST.heartbeat },
      lease: { ...FAST.lease },
      timeouts: { ...FAST.timeouts, buildMs: options.buildMs ?? 60_000, recoverMs: 60_000 },
    },
  };
  const file = join(options.dir, `${serviceName}.json`);
  writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'worker-child.ts')], {
    env: { ...process.env, CORRAL_CHILD_CONFIG: file },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let buffer = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
    for (const wake of waiters) wake();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle: Child = {
    process: child,
    async start() {
      child.stdin?.write('GO\n');
      await handle.waitForLine(/^READY$/);
    },
    lines,
    waitForLine(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = lines.find((l) => pattern.test(l));
          if (line !== undefined) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(line);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`child never printed ${pattern} (got: ${lines.join(' | ')})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  await handle.waitForLine(/^LOADED$/);
  if (options.start !== false) await handle.start();
  return handle;
}
