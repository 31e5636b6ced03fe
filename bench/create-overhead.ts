/**
 * Control-plane overhead of a create: from `instances.create()` being called to the provider's createServer
 * call being issued, with an in-process fake provider, the embedded SQLite store and the embedded aedes broker
 * (mutual TLS), all roles in one process. What lies between: request validation, the catalog and flavor checks,
 * one transaction writing the instance and its task, the wake-up of an idle worker, the lease, the guest
 * certificate (an ECDSA key pair signed by the CA) and the bootstrap user-data.
 *
 * The wrapped provider refuses each create (quota) once it has recorded the call, so the task ends at once and
 * the next create finds an idle worker: creates run one after another and each sample is pure overhead.
 * `npx tsx bench/create-overhead.ts` prints one JSON line (BENCH_SAMPLES, default 300).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CallOptions,
  type CreateServerRequest,
  createCa,
  createControlPlane,
  createDefaultCatalog,
  createSqliteStore,
  QuotaExceededError,
  type Server,
  startBroker,
} from '@corral/core';
import { issueServerCertificate, issueServiceCertificate, RevocationList } from '@corral/core/pki';
import { FakeProvider } from '@corral/core/testing';
import pino from 'pino';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300);
const WARMUP = 20;

/** Records when createServer is entered, per instance name, then refuses (nothing is made). */
class TimedProvider extends FakeProvider {
  readonly issuedAt = new Map<string, number>();
  override async createServer(request: CreateServerRequest, _options?: CallOptions): Promise<Server> {
    this.issuedAt.set(request.name, performance.now());
    throw new QuotaExceededError('bench: refused after timing the call', { provider: this.name });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'corral-create-'));
const ca = await createCa();
const serverCert = await issueServerCertificate(ca);
const revocations = new RevocationList();
const broker = await startBroker({
  tls: { ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem },
  revocations,
});
const store = await createSqliteStore({ path: join(dir, 'corral.db') });
const service = await issueServiceCertificate(ca, { name: 'bench' });
const provider = new TimedProvider();
const plane = await createControlPlane({
  store,
  broker: {
    url: broker.url,
    serviceName: 'bench',
    caPem: ca.certPem,
    certPem: service.certPem,
    keyPem: service.keyPem,
    protocolVersion: 4,
  },
  providers: { fake: provider },
  datastores: createDefaultCatalog(),
  pki: { ca, revocations },
  logger: pino({ level: 'silent' }),
});

const toCall: number[] = [];
const apiReturn: number[] = [];
try {
  for (let i = 0; i < SAMPLES + WARMUP; i++) {
    const name = `bench-${i}`;
    const started = performance.now();
    const view = await plane.instances.create({ name, flavor: 'small', datastore: { type: 'redis' } });
    const returned = performance.now();
    await plane.instances.waitFor(view.id, (v) => v.taskStatus !== 'BUILDING', { timeoutMs: 10_000 });
    const issued = provider.issuedAt.get(name);
    if (issued === undefined) throw new Error(`createServer was never called for ${name}`);
    if (i >= WARMUP) {
      toCall.push(issued - started);
      apiReturn.push(returned - started);
    }
  }
} finally {
  await plane.close();
  await broker.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

function quantiles(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) =>
    Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2));
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
}

console.log(
  JSON.stringify({
    setup: `${SAMPLES} sequential creates (after ${WARMUP} warm-up), fake provider in process, SQLite store, embedded aedes (mTLS), all roles in one process`,
    anchor:
      'Trove: create → nova boot goes API → RPC cast to trove-taskmanager over RabbitMQ → Nova API HTTP call (with Keystone auth); no published figure, so no ratio',
    createToProviderCallMs: quantiles(toCall),
    createReturnsMs: quantiles(apiReturn),
  }),
);
