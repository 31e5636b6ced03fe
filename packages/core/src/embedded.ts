import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { type ControlPlane, type CreateControlPlaneOptions, createControlPlane } from './control-plane.js';
import type { DatastoreCatalog } from './datastore/catalog.js';
import { createDefaultCatalog } from './datastore/defaults.js';
import { listenOnKeptPort, readEndpoints, writeEndpoints } from './embedded-endpoints.js';
import type { GuestIdentityMode } from './enrolment/identity.js';
import { type EnrolmentServerHandle, startEnrolmentServer } from './enrolment/server.js';
import { EnrolmentService } from './enrolment/service.js';
import { EnrolmentTokens } from './enrolment/tokens.js';
import { type BrokerHandle, startBroker } from './messaging/broker.js';
import { type CertificateAuthority, loadOrCreateCa } from './pki/ca.js';
import { RevocationList } from './pki/crl.js';
import { issueServerCertificate, issueServiceCertificate } from './pki/issue.js';
import type { Provider } from './provider/types.js';
import { createSqliteStore } from './store/sqlite.js';
import type { Store } from './store/types.js';

/**
 * The embedded default in one call: a CA kept in `stateDir/pki`, aedes on 127.0.0.1 with mutual TLS, SQLite
 * in `stateDir/corral.db`, and every control-plane role in this process (API, task workers, conductor and the
 * server watcher; tune or turn off the watcher with `controlPlane.serverWatch`). Guests of a libvirt host reach
 * the broker as 10.0.2.2 (QEMU user-mode networking's alias for the host loopback), which the broker's
 * certificate names. Revocations live in the store and are loaded back at start, so a deleted instance's
 * certificate stays refused across restarts.
 *
 * Every guest's seed names the broker (and the enrolment endpoint) as `<guestHostAddress>:<port>`, so the
 * ports chosen on the first start and the guest address are kept in `stateDir/endpoints.json` and reused by
 * every later start on that state dir (see embedded-endpoints.ts).
 */
export interface StartEmbeddedOptions {
  stateDir: string;
  providers: Record<string, Provider>;
  datastores?: DatastoreCatalog;
  /**
   * Broker port on 127.0.0.1. Default (or 0): the port kept in the state dir, or any free port on the first
   * start, kept from then on. A different explicit port moves the endpoint: guests made before cannot follow.
   */
  brokerPort?: number;
  /** The address guests use for the host (default: the one kept in the state dir, else 10.0.2.2). */
  guestHostAddress?: string;
  /**
   * How guests get their identity (default `issued`): with `enrolment` an HTTPS enrolment endpoint starts on
   * 127.0.0.1 (`enrolmentPort`, kept in the state dir like the broker's) and guests trade a one-time token and a CSR for
   * their certificate there, so their private keys are made in the guest and never in the bootstrap.
   */
  guestIdentity?: GuestIdentityMode;
  enrolmentPort?: number;
  logger?: Logger;
  /** Anything else for createControlPlane (timeouts, heartbeat, workers, hooks). */
  controlPlane?: Partial<Omit<CreateControlPlaneOptions, 'store' | 'broker' | 'providers' | 'datastores' | 'pki'>>;
}

export interface EmbeddedControlPlane {
  controlPlane: ControlPlane;
  broker: BrokerHandle;
  store: Store;
  ca: CertificateAuthority;
  revocations: RevocationList;
  /** The broker URL as guests see it. */
  guestBrokerUrl: string;
  /** With `guestIdentity: 'enrolment'`: the endpoint, and its URL as guests see it. */
  enrolment?: EnrolmentServerHandle;
  guestEnrolmentUrl?: string;
  close(): Promise<void>;
}

export async function startEmbeddedControlPlane(options: StartEmbeddedOptions): Promise<EmbeddedControlPlane> {
  const logger = options.logger ?? pino({ level: 'info' });
  const { stateDir } = options;
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const recorded = await readEndpoints(stateDir);
  const guestHost = options.guestHostAddress ?? recorded?.guestHostAddress ?? '10.0.2.2';
  // Guests made before a change of address still connect to the old one: the certificates keep naming it.
  const guestHosts = [...new Set(['127.0.0.1', guestHost, ...(recorded ? [recorded.guestHostAddress] : [])])];
  if (recorded && recorded.guestHostAddress !== guestHost) {
    logger.warn(
      { before: recorded.guestHostAddress, now: guestHost },
      'the guest address changed: guests made before still use the old one',
    );
  }
  const ca = await loadOrCreateCa(join(options.stateDir, 'pki'));
  const store = await createSqliteStore({ path: join(options.stateDir, 'corral.db') });
  const stops: (() => Promise<void>)[] = [() => store.close()];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const revoked = await store.listGuestCertificates({ revoked: true });
    const revocations = new RevocationList(
      revoked.map((certificate) => ({ serial: certificate.serial, revokedAt: new Date(certificate.revokedAt ?? 0) })),
    );
    const serverCertificate = await issueServerCertificate(ca, { ipAddresses: guestHosts, dnsNames: ['localhost'] });
    const keptPort = (what: string, requested: number | undefined, kept: number | undefined) => ({
      what,
      stateDir,
      requested,
      recorded: kept,
      guestsDependOnIt: async () => (await store.listInstances({ limit: 1 })).items.length > 0,
      onFreshPort: (port: number) =>
        logger.warn({ port }, `the kept ${what} port is taken and no instance uses it: listening on a new one`),
    });
    const broker = await listenOnKeptPort({
      ...keptPort('broker', options.brokerPort, recorded?.brokerPort),
      listen: (port) =>
        startBroker({
          host: '127.0.0.1',
          port,
          tls: { ca: ca.certPem, cert: serverCertificate.certPem, key: serverCertificate.keyPem },
          revocations,
          logger: logger.child({ component: 'broker' }),
        }),
    });
    stops.push(() => broker.stop());
    let enrolment: EnrolmentServerHandle | undefined;
    if (options.guestIdentity === 'enrolment') {
      const enrolmentCertificate = await issueServerCertificate(ca, {
        commonName: 'corral-enrolment',
        ipAddresses: guestHosts,
        dnsNames: ['localhost'],
      });
      const service = new EnrolmentService({
        store,
        ca,
        tokens: EnrolmentTokens.fromCa(ca),
        revocations,
        logger: logger.child({ component: 'enrolment' }),
      });
      const started = await listenOnKeptPort({
        ...keptPort('enrolment', options.enrolmentPort, recorded?.enrolmentPort),
        listen: (port) =>
          startEnrolmentServer({
            service,
            tls: { certPem: enrolmentCertificate.certPem, keyPem: enrolmentCertificate.keyPem },
            host: '127.0.0.1',
            port,
            logger,
          }),
      });
      enrolment = started;
      stops.push(() => started.close());
    }
    await writeEndpoints(stateDir, {
      brokerPort: broker.port,
      enrolmentPort: enrolment?.port ?? recorded?.enrolmentPort,
      guestHostAddress: guestHost,
    });
    const service = await issueServiceCertificate(ca, { name: 'embedded' });
    const controlPlane = await createControlPlane({
      ...options.controlPlane,
      store,
      providers: options.providers,
      datastores: options.datastores ?? createDefaultCatalog(),
      pki: { ca, revocations },
      ...(enrolment !== undefined && {
        guestIdentity: 'enrolment' as const,
        enrolment: { ...options.controlPlane?.enrolment, guestUrl: enrolment.urlFor(guestHost) },
      }),
      logger,
      broker: {
        url: broker.url,
        guestUrl: `mqtts://${guestHost}:${broker.port}`,
        serviceName: 'embedded',
        caPem: ca.certPem,
        certPem: service.certPem,
        keyPem: service.keyPem,
        protocolVersion: 4,
      },
    });
    stops.push(() => controlPlane.close());
    return {
      controlPlane,
      broker,
      store,
      ca,
      revocations,
      guestBrokerUrl: `mqtts://${guestHost}:${broker.port}`,
      ...(enrolment !== undefined && { enrolment, guestEnrolmentUrl: enrolment.urlFor(guestHost) }),
      close: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
