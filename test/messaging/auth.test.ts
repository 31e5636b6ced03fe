/**
 * Who may connect: only clients with a certificate from our CA that is in its validity period and not revoked.
 * Revoking a connected guest disconnects it. Against aedes (live revocation set) and mosquitto (CRL).
 * Needs scripts/setup/20-mosquitto.sh.
 */
import { createCa } from '@corral/core';
import type { MqttTransport } from '@corral/core/messaging';
import { issueGuestCertificate } from '@corral/core/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  brokerKinds,
  connectGuest,
  createTestPki,
  eventually,
  rawClient,
  sleep,
  startTestBroker,
  type TestBroker,
  type TestPki,
} from './harness.js';

const DAY = 24 * 3600 * 1000;

describe.each(brokerKinds)('client authentication on %s', (kind) => {
  let pki: TestPki;
  let broker: TestBroker;

  beforeAll(async () => {
    pki = await createTestPki();
    broker = await startTestBroker(kind, pki);
  });

  afterAll(async () => {
    await broker?.close();
  });

  it('accepts a valid guest certificate', async () => {
    const cert = await pki.guest('guest-ok');
    const client = await rawClient(broker, {
      clientId: 'guest-ok',
      ca: pki.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
    });
    expect(client.connected).toBe(true);
    client.end(true);
  });

  it('refuses a client without a certificate', async () => {
    await expect(rawClient(broker, { clientId: 'guest-x', ca: pki.ca.certPem })).rejects.toThrow();
  });

  it('refuses a certificate from another CA', async () => {
    const other = await createCa({ commonName: 'someone else' });
    const cert = await issueGuestCertificate(other, { guestId: 'guest-x' });
    await expect(
      rawClient(broker, { clientId: 'guest-x', ca: pki.ca.certPem, cert: cert.certPem, key: cert.keyPem }),
    ).rejects.toThrow();
  });

  it('refuses an expired certificate', async () => {
    const cert = await issueGuestCertificate(pki.ca, {
      guestId: 'guest-x',
      notBefore: new Date(Date.now() - 2 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    await expect(
      rawClient(broker, { clientId: 'guest-x', ca: pki.ca.certPem, cert: cert.certPem, key: cert.keyPem }),
    ).rejects.toThrow();
  });

  it('refuses a revoked certificate', async () => {
    const cert = await pki.guest('guest-r');
    await broker.revoke(cert.serial);
    await expect(
      rawClient(broker, { clientId: 'guest-r', ca: pki.ca.certPem, cert: cert.certPem, key: cert.keyPem }),
    ).rejects.toThrow();
  });

  it('revoking a connected guest disconnects it and keeps it out', async () => {
    const cert = await pki.guest('guest-d');
    const { connectMqttTransport, guestIdentity } = await import('@corral/core/messaging');
    const guest: MqttTransport = await connectMqttTransport({
      url: broker.url,
      ca: pki.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      identity: guestIdentity('guest-d'),
      backoff: { initialMs: 50, maxMs: 200 },
    });
    // A bystander with a valid certificate is not affected (beyond mosquitto's restart to reload its CRL).
    const bystander = await connectGuest(broker, pki, 'guest-e');
    await broker.revoke(cert.serial);
    await eventually(() => !guest.connected, 5000, 'revoked guest disconnected');
    await sleep(800);
    expect(guest.connected).toBe(false);
    await eventually(() => bystander.connected, 5000, 'bystander connected');
    await guest.close();
    await bystander.close();
  });
});
