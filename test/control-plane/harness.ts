/**
 * Shared set-up for the control-plane suites: a throw-away CA, the embedded aedes broker with mutual TLS and
 * ACLs (or mosquitto, from scripts/setup/20-mosquitto.sh), a store, a fake provider whose servers boot fake
 * guests speaking the real protocol with real certificates, and control planes over all of it.
 */
import {
  type CertificateAuthority,
  type ControlPlane,
  type CreateControlPlaneOptions,
  createCa,
  createControlPlane,
  createDefaultCatalog,
  createMemoryStore,
  type InstanceView,
  type Provider,
  type Store,
  startBroker,
  startMosquitto,
} from '@corral/core';
import { issueServerCertificate, issueServiceCertificate, RevocationList } from '@corral/core/pki';
import { FakeGuestFleet, FakeProvider } from '@corral/core/testing';
import pino from 'pino';

export interface TestEnv {
  ca: CertificateAuthority;
  revocations: RevocationList;
  broker: { url: string; protocolVersion: 4 | 5; stop(): Promise<void> };
  store: Store;
  provider: FakeProvider;
  fleet: FakeGuestFleet;
  /** The provider the control plane sees: boots a fake guest per server. */
  guestedProvider: Provider;
  planes: ControlPlane[];
  startPlane(overrides?: Partial<CreateControlPlaneOptions> & { serviceName?: string }): Promise<ControlPlane>;
  close(): Promise<void>;
}

/** Short settings so failure paths end in seconds. */
export const FAST = {
  heartbeat: { intervalSeconds: 0.2, expiryMs: 2_000, sweepIntervalMs: 100 },
  lease: { leaseMs: 1_000, idleMs: 100 },
  timeouts: { buildMs: 6_000, recoverMs: 3_000, deleteMs: 3_000, guestCallMs: 1_000, providerPollMs: 50 },
} as const;

/**
 * `mosquitto` (needs scripts/setup/20-mosquitto.sh) runs a real mosquitto in `mosquittoDir`, allowing the
 * given service names; the default is the embedded aedes.
 */
export async function startEnv(
  options: { store?: Store; mosquitto?: { dir: string; services: string[] } } = {},
): Promise<TestEnv> {
  const ca = await createCa({ commonName: 'corral control-plane test CA' });
  const serverCert = await issueServerCertificate(ca);
  const revocations = new RevocationList();
  const tls = { ca: ca.certPem, cert: serverCert.certPem, key: serverCert.keyPem };
  let broker: TestEnv['broker'];
  if (options.mosquitto) {
    const mosquitto = await startMosquitto({
      dir: options.mosquitto.dir,
      ...tls,
      services: options.mosquitto.services,
      revocations: { list: revocations, ca },
    });
    broker = { url: mosquitto.url, protocolVersion: 5, stop: () => mosquitto.close() };
  } else {
    const aedes = await startBroker({ tls, revocations });
    broker = { url: aedes.url, protocolVersion: 4, stop: () => aedes.stop() };
  }
  const store = options.store ?? createMemoryStore();
  const provider = new FakeProvider({ buildMs: 20 });
  const fleet = new FakeGuestFleet({ brokerUrl: broker.url, heartbeatMs: 200, prepareMs: 20 });
  const guestedProvider = fleet.wrap(provider);
  const planes: ControlPlane[] = [];
  let serial = 0;
  return {
    ca,
    revocations,
    broker,
    store,
    provider,
    fleet,
    guestedProvider,
    planes,
    async startPlane(overrides = {}) {
      const serviceName = overrides.serviceName ?? `control${serial++}`;
      const cert = await issueServiceCertificate(ca, { name: serviceName });
      const plane = await createControlPlane({
        store,
        broker: {
          url: broker.url,
          guestUrl: broker.url.replace('127.0.0.1', '10.0.2.2'),
          serviceName,
          caPem: ca.certPem,
          certPem: cert.certPem,
          keyPem: cert.keyPem,
          protocolVersion: broker.protocolVersion,
        },
        providers: { fake: guestedProvider },
        datastores: createDefaultCatalog(),
        pki: { ca, revocations },
        logger: pino({ level: process.env.CORRAL_TEST_LOG ?? 'silent' }),
        ...FAST,
        ...overrides,
      });
      planes.push(plane);
      return plane;
    },
    async close() {
      for (const plane of planes.splice(0)) await plane.close().catch(() => undefined);
      await fleet.stopAll();
      await broker.stop();
      await store.close();
    },
  };
}

export function create(plane: ControlPlane, name: string, extra: Record<string, unknown> = {}): Promise<InstanceView> {
  return plane.instances.create({ name, flavor: 'small', datastore: { type: 'redis' }, ...extra });
}

/** Waits (by events, with a deadline) until the instance's view satisfies `predicate`. */
export function until(
  plane: ControlPlane,
  id: string,
  predicate: (view: InstanceView) => boolean,
  timeoutMs = 10_000,
): Promise<InstanceView> {
  return plane.instances.waitFor(id, predicate, { timeoutMs });
}

export const idle = (view: InstanceView) =>
  view.taskStatus === 'NONE' || view.taskStatus === 'RESTART_REQUIRED' || view.taskStatus.includes('ERROR');
