/**
 * A task-manager process for the crash and multi-process suites (`node --import tsx worker-child.ts`).
 * Reads its settings from the JSON file named by CORRAL_CHILD_CONFIG. With `crashAt` ("before:<step>" or
 * "after:<step>", optionally "<kind>/" first) it prints `AT <point>` when a task reaches that point and hangs
 * there, so the parent can SIGKILL it mid-step. Prints `LOADED` after its imports, starts when it reads `GO`
 * on stdin, then prints `READY`.
 */
import { readFileSync } from 'node:fs';
import { createControlPlane, createDefaultCatalog, createPostgresStore, createSqliteStore, loadCa } from '@corral/core';
import { RevocationList } from '@corral/core/pki';
import pino from 'pino';
import { httpProvider } from './provider-http.js';

export interface ChildConfig {
  store: { kind: 'sqlite'; path: string } | { kind: 'postgres'; connectionString: string; schema: string };
  broker: { url: string; caPem: string; certPem: string; keyPem: string; serviceName: string; protocolVersion: 4 | 5 };
  ca: { certPem: string; keyPem: string };
  providerUrl: string;
  roles: ('api' | 'taskmanager' | 'conductor')[];
  crashAt?: string;
  settings: {
    heartbeat: { intervalSeconds: number; expiryMs: number; sweepIntervalMs: number };
    lease: { leaseMs: number; idleMs: number };
    timeouts: Record<string, number>;
  };
}

const config = JSON.parse(readFileSync(String(process.env.CORRAL_CHILD_CONFIG), 'utf8')) as ChildConfig;
const store =
  config.store.kind === 'sqlite'
    ? await createSqliteStore({ path: config.store.path })
    : await createPostgresStore({
        connectionString: config.store.connectionString,
        schema: config.store.schema,
        max: 4,
      });
const ca = await loadCa(config.ca);
// Loaded but idle until the parent says GO: the crash suite warms the next worker while the current one runs.
process.stdout.write('LOADED\n');
await new Promise<void>((resolve) => {
  process.stdin.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('GO')) resolve();
  });
});
const plane = await createControlPlane({
  store,
  broker: { ...config.broker, guestUrl: config.broker.url },
  providers: { fake: httpProvider(config.providerUrl) },
  datastores: createDefaultCatalog(),
  pki: { ca, revocations: new RevocationList() },
  roles: config.roles,
  logger: pino({ level: process.env.CORRAL_TEST_LOG ?? 'silent' }, pino.destination(2)),
  heartbeat: config.settings.heartbeat,
  lease: config.settings.lease,
  timeouts: config.settings.timeouts,
  hooks: {
    async onStep({ taskId, kind, step, phase }) {
      const point = `${phase}:${step}`;
      if (phase === 'before') process.stdout.write(`STEP ${taskId} ${kind}/${step}\n`);
      if (config.crashAt === point || config.crashAt === `${kind}/${point}`) {
        process.stdout.write(`AT ${kind}/${point}\n`);
        await new Promise(() => {});
      }
    },
  },
});
process.stdout.write('READY\n');
process.on('SIGTERM', () => {
  void plane
    .close()
    .then(() => store.close())
    .then(() => process.exit(0));
});
