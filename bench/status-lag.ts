/**
 * Status lag: from a guest casting a HEALTHY heartbeat to ACTIVE being visible through the instance service,
 * over the real embedded broker (aedes, mutual TLS) with the embedded default store (SQLite), all roles in
 * one process as in the embedded deployment. Trove's task manager polls with a back-off of up to 30 s; here
 * the conductor's write is an event. `npx tsx bench/status-lag.ts` prints one JSON line. BENCH_SQLITE_DRIVER
 * picks the SQLite driver (default: the store's own choice).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createCa,
  createControlPlane,
  createDefaultCatalog,
  createSqliteStore,
  type SqliteDriverChoice,
  startBroker,
} from '@corral/core';
import { conductorTopic, guestIdentity, MqttTransport } from '@corral/core/messaging';
import {
  issueGuestCertificate,
  issueServerCertificate,
  issueServiceCertificate,
  RevocationList,
} from '@corral/core/pki';
import { FakeProvider } from '@corral/core/testing';
import pino from 'pino';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 300);
const dir = mkdtempSync(join(tmpdir(), 'corral-lag-'));
const ca = await createCa();
const server = await issueServerCertificate(ca);
const broker = await startBroker({
  tls: { ca: ca.certPem, cert: server.certPem, key: server.keyPem },
  revocations: new RevocationList(),
});
const store = await createSqliteStore({
  path: join(dir, 'corral.db'),
  driver: (process.env.BENCH_SQLITE_DRIVER ?? 'auto') as SqliteDriverChoice,
});
const service = await issueServiceCertificate(ca, { name: 'bench' });
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
  providers: { fake: new FakeProvider() },
  datastores: createDefaultCatalog(),
  pki: { ca },
  logger: pino({ level: 'silent' }),
});
const id = 'lag-guest';
await store.createInstance({
  id,
  name: id,
  projectId: 'bench',
  provider: 'fake',
  flavor: 'small',
  image: 'corral-guest',
  datastore: { type: 'redis', version: '7' },
  taskStatus: 'NONE',
});
await store.updateInstance(id, { serverStatus: 'ACTIVE' });
const cert = await issueGuestCertificate(ca, { guestId: id });
const guest = new MqttTransport({
  url: broker.url,
  ca: ca.certPem,
  cert: cert.certPem,
  key: cert.keyPem,
  identity: guestIdentity(id),
  protocolVersion: 4,
});
await guest.waitUntilConnected(5_000);
const beat = (serviceStatus: string) => guest.cast(conductorTopic(id), 'heartbeat', { instanceId: id, serviceStatus });

const lags: number[] = [];
for (let i = 0; i < SAMPLES; i++) {
  await beat('SHUTDOWN');
  await plane.instances.waitFor(id, (view) => view.status === 'SHUTDOWN', { timeoutMs: 5_000 });
  const waiting = plane.instances.waitFor(id, (view) => view.status === 'ACTIVE', { timeoutMs: 5_000 });
  const started = performance.now();
  await beat('HEALTHY');
  await waiting;
  lags.push(performance.now() - started);
}
await guest.close();
await plane.close();
await broker.stop();
await store.close();
rmSync(dir, { recursive: true, force: true });

lags.sort((a, b) => a - b);
const at = (q: number) => Number((lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? 0).toFixed(2));
console.log(
  JSON.stringify({
    setup: `${SAMPLES} HEALTHY heartbeats, embedded aedes (mTLS) + SQLite (${store.driver}, node ${process.version}), all roles in one process; load average (1 min) ${loadavg()[0]?.toFixed(1)} at the end (other work shares the cores)`,
    anchor: 'aim: p99 well under 20 ms (Trove: poll with back-off up to 30 s)',
    statusLagMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) },
  }),
);
