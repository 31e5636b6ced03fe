/**
 * Shared set-up for the messaging suites: a throw-away PKI and one broker of each kind behind the same handle,
 * so every suite runs unchanged against the embedded aedes and a real mosquitto.
 * Needs: scripts/setup/20-mosquitto.sh (installs /usr/sbin/mosquitto; each suite starts its own instance on a
 * free loopback port in a temporary directory and stops it afterwards).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BrokerHandle,
  type CertificateAuthority,
  createCa,
  type MosquittoHandle,
  startBroker,
  startMosquitto,
} from '@corral/core';
import {
  connectMqttTransport,
  createMqttTransport,
  guestIdentity,
  type MqttTransport,
  serviceIdentity,
  type TransportOptions,
} from '@corral/core/messaging';
import {
  type IssuedKeyAndCertificate,
  issueGuestCertificate,
  issueServerCertificate,
  issueServiceCertificate,
  RevocationList,
} from '@corral/core/pki';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';

export type BrokerKind = 'aedes' | 'mosquitto';
export const brokerKinds: BrokerKind[] = ['aedes', 'mosquitto'];

/** Service names the mosquitto ACL lists (one `user` block each). */
export const SERVICES = ['control', 'control2'];

export interface TestPki {
  ca: CertificateAuthority;
  server: IssuedKeyAndCertificate;
  guest(guestId: string): Promise<IssuedKeyAndCertificate>;
  service(name: string): Promise<IssuedKeyAndCertificate>;
}

export async function createTestPki(): Promise<TestPki> {
  const ca = await createCa({ commonName: 'corral test CA' });
  const server = await issueServerCertificate(ca);
  return {
    ca,
    server,
    guest: (guestId) => issueGuestCertificate(ca, { guestId }),
    service: (name) => issueServiceCertificate(ca, { name }),
  };
}

export interface TestBroker {
  kind: BrokerKind;
  url: string;
  /** The MQTT version our transport should negotiate with it. */
  protocolVersion: 4 | 5;
  revocations: RevocationList;
  revoke(serial: string): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestBroker(kind: BrokerKind, pki: TestPki): Promise<TestBroker> {
  const revocations = new RevocationList();
  const tls = { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem };
  if (kind === 'aedes') {
    let broker: BrokerHandle | undefined = await startBroker({ tls, revocations });
    const port = broker.port;
    let persistence = broker.persistence;
    return {
      kind,
      url: broker.url,
      protocolVersion: 4,
      revocations,
      async revoke(serial) {
        revocations.revoke(serial);
      },
      async stop() {
        persistence = broker?.persistence;
        await broker?.stop();
        broker = undefined;
      },
      async start() {
        broker ??= await startBroker({ tls, revocations, port, persistence });
      },
      async close() {
        await broker?.stop();
      },
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'corral-mosquitto-'));
  let mosquitto: MosquittoHandle;
  try {
    mosquitto = await startMosquitto({
      dir,
      ...tls,
      services: SERVICES,
      crlPem: await revocations.toCrlPem(pki.ca),
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    kind,
    url: mosquitto.url,
    protocolVersion: 5,
    revocations,
    async revoke(serial) {
      revocations.revoke(serial);
      await mosquitto.updateCrl(await revocations.toCrlPem(pki.ca));
    },
    stop: () => mosquitto.stop(),
    start: () => mosquitto.start(),
    async close() {
      await mosquitto.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type TransportOverrides = Partial<Omit<TransportOptions, 'url' | 'identity' | 'cert' | 'key' | 'ca'>>;

export function guestOptions(
  broker: TestBroker,
  pki: TestPki,
  guestId: string,
  cert: IssuedKeyAndCertificate,
  overrides: TransportOverrides = {},
): TransportOptions {
  return {
    url: broker.url,
    ca: pki.ca.certPem,
    cert: cert.certPem,
    key: cert.keyPem,
    identity: guestIdentity(guestId),
    backoff: { initialMs: 50, maxMs: 500 },
    ...overrides,
  };
}

export async function connectGuest(
  broker: TestBroker,
  pki: TestPki,
  guestId: string,
  overrides: TransportOverrides = {},
): Promise<MqttTransport> {
  return connectMqttTransport(guestOptions(broker, pki, guestId, await pki.guest(guestId), overrides));
}

export async function connectService(
  broker: TestBroker,
  pki: TestPki,
  name = 'control',
  overrides: TransportOverrides = {},
): Promise<MqttTransport> {
  const cert = await pki.service(name);
  return connectMqttTransport({
    url: broker.url,
    ca: pki.ca.certPem,
    cert: cert.certPem,
    key: cert.keyPem,
    identity: serviceIdentity(name),
    backoff: { initialMs: 50, maxMs: 500 },
    ...overrides,
  });
}

export { createMqttTransport };

/** A bare MQTT.js client, for behaving badly on purpose. Resolves once connected; rejects when refused. */
export async function rawClient(
  broker: TestBroker,
  options: IClientOptions & { clientId: string },
  timeoutMs = 3000,
): Promise<MqttClient> {
  const client = connect(broker.url, {
    protocolVersion: broker.protocolVersion,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
    ...options,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connect timed out')), timeoutMs);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      client.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      client.once('close', () => {
        clearTimeout(timer);
        reject(new Error('connection closed before CONNACK'));
      });
    });
  } catch (error) {
    client.end(true);
    throw error;
  }
  client.on('error', () => undefined);
  return client;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds (or fails the test after `timeoutMs`). */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function failure(promise: Promise<unknown>): Promise<Error & { code?: string; remoteCode?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string; remoteCode?: string };
  }
  throw new Error('expected the promise to reject');
}
