/**
 * Cross-guest publish and subscribe, as a generated matrix, on the embedded aedes AND mosquitto: guest A (a
 * valid certificate of its own) publishes on B's and C's rpc/reply/conductor/state topics, on its own rpc
 * topic and on the service topics, and subscribes to B's topics, wildcards (`corral/v1/guest/+/rpc`, `#`, ...),
 * shared subscriptions and the service topics. Each case must be refused: a forged message never reaches an
 * observer subscribed to everything (checked after a later sentinel arrived), and a subscriber gets nothing
 * but its own rpc traffic. Then certificates: expired, revoked and foreign-CA ones cannot connect, and a revoked
 * connected guest is dropped. The suite prints how many cases it tried and refused.
 * Needs scripts/setup/20-mosquitto.sh (reuses test/messaging/harness.ts).
 */
import { createCa } from '@corral/core';
import { type MqttTransport, rpcTopic } from '@corral/core/messaging';
import { issueGuestCertificate } from '@corral/core/pki';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  brokerKinds,
  connectGuest,
  connectService,
  createTestPki,
  eventually,
  rawClient,
  sleep,
  startTestBroker,
  type TestBroker,
  type TestPki,
} from '../messaging/harness.js';

const channels = ['rpc', 'reply', 'conductor', 'state'] as const;
const serviceTopics = ['corral/v1/service/events', 'corral/v1/service/control', 'corral/v1/control/anything'];

/** Topics guest A must not publish on. */
const publishTargets = [
  ...['guest-b', 'guest-c'].flatMap((victim) => channels.map((c) => `corral/v1/guest/${victim}/${c}`)),
  'corral/v1/guest/guest-a/rpc',
  ...serviceTopics,
];
/** Filters guest A must not read through. */
const subscribeFilters = [
  ...channels.map((c) => `corral/v1/guest/guest-b/${c}`),
  ...channels.map((c) => `corral/v1/guest/+/${c}`),
  'corral/v1/guest/+/#',
  'corral/v1/guest/#',
  'corral/v1/#',
  '#',
  '+/+/+/+/+',
  'corral/v1/service/#',
  'corral/v1/service/events',
  '$share/evil/corral/v1/guest/+/conductor',
  '$share/evil/corral/v1/guest/guest-b/rpc',
];

const totals = { tried: 0, refused: 0 };

describe.each(brokerKinds)('cross-guest access on %s', (kind) => {
  let pki: TestPki;
  let broker: TestBroker;
  let service: MqttTransport;
  let guestB: MqttTransport;
  let victimRaw: MqttClient;
  let observer: MqttClient;
  const observed: Array<{ topic: string; payload: string }> = [];
  const pingedB: string[] = [];
  const counts = {
    publishTried: 0,
    publishRefused: 0,
    subscribeTried: 0,
    subscribeRefused: 0,
    certTried: 0,
    certRefused: 0,
  };

  async function attacker(): Promise<MqttClient> {
    const cert = await pki.guest('guest-a');
    return rawClient(broker, { clientId: 'guest-a', ca: pki.ca.certPem, cert: cert.certPem, key: cert.keyPem });
  }

  async function sentinel(tag: string): Promise<void> {
    await service.cast('guest-b', 'ping', { tag });
    await eventually(() => observed.some((m) => m.payload.includes(tag)), 5000, `sentinel ${tag}`);
    await sleep(50);
  }

  beforeAll(async () => {
    pki = await createTestPki();
    broker = await startTestBroker(kind, pki);
    service = await connectService(broker, pki);
    guestB = await connectGuest(broker, pki, 'guest-b');
    await guestB.handle(
      rpcTopic('guest-b'),
      { ping: { args: z.object({ tag: z.string() }) } },
      {
        ping: ({ tag }) => void pingedB.push(tag),
      },
    );
    const b2 = await pki.guest('guest-b2');
    victimRaw = await rawClient(broker, { clientId: 'guest-b2', ca: pki.ca.certPem, cert: b2.certPem, key: b2.keyPem });
    const cert = await pki.service('control2');
    observer = await rawClient(broker, {
      clientId: 'service.control2',
      ca: pki.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
    });
    observer.on('message', (topic, payload) => observed.push({ topic, payload: payload.toString() }));
    await observer.subscribeAsync('corral/v1/#', { qos: 1 });
  });

  afterAll(async () => {
    console.log(`[security] cross-guest on ${kind}: ${JSON.stringify(counts)}`);
    totals.tried += counts.publishTried + counts.subscribeTried + counts.certTried;
    totals.refused += counts.publishRefused + counts.subscribeRefused + counts.certRefused;
    observer?.end(true);
    victimRaw?.end(true);
    await guestB?.close();
    await service?.close();
    await broker?.close();
  });

  it(`refuses ${publishTargets.length * 2} forged publications (each topic at QoS 0 and 1)`, async () => {
    const tags: string[] = [];
    for (const [i, topic] of publishTargets.entries()) {
      for (const qos of [0, 1] as const) {
        const tag = `forged-${kind}-${i}-q${qos}`;
        tags.push(tag);
        const a = await attacker();
        // aedes closes the connection on a denied publish; mosquitto drops the message (MQTT 5: PUBACK 0x87).
        a.publish(
          topic,
          JSON.stringify({ v: 1, kind: 'cast', method: 'ping', args: { tag }, tag }),
          { qos },
          () => undefined,
        );
        await sleep(30);
        a.end(true);
        counts.publishTried++;
      }
    }
    await sentinel(`after-publish-${kind}`);
    for (const tag of tags) {
      const arrived = observed.some((m) => m.payload.includes(`"${tag}"`)) || pingedB.includes(tag);
      if (!arrived) counts.publishRefused++;
    }
    expect(counts.publishRefused).toBe(counts.publishTried);
  });

  it(`refuses ${subscribeFilters.length} subscriptions to others' topics and wildcards`, async () => {
    for (const filter of subscribeFilters) {
      counts.subscribeTried++;
      const a = await attacker();
      const received: string[] = [];
      a.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
      await a.subscribeAsync(filter, { qos: 1 }).catch(() => undefined);
      await a.subscribeAsync(rpcTopic('guest-a'), { qos: 1 }).catch(() => undefined);
      // Traffic A must not see: B's own channels, a call to B, a service event.
      const secret = `secret-${kind}-${counts.subscribeTried}`;
      for (const c of ['reply', 'conductor', 'state'] as const) {
        victimRaw.publish(`corral/v1/guest/guest-b2/${c}`, JSON.stringify({ secret }), { qos: 1 });
      }
      await service.cast('guest-b', 'ping', { tag: secret });
      await eventually(() => pingedB.includes(secret), 5000, 'B got its call');
      // Then a message A may read: once it arrives (or A was disconnected), everything before was delivered.
      const mine = `own-${secret}`;
      await service.cast('guest-a', 'ping', { tag: mine }).catch(() => undefined);
      await eventually(() => received.some((m) => m.includes(mine)) || !a.connected, 5000, `A's own message`).catch(
        () => undefined,
      );
      await sleep(30);
      const leaked = received.filter((m) => !m.startsWith(`${rpcTopic('guest-a')} `));
      if (leaked.length === 0) counts.subscribeRefused++;
      else console.log(`[security] LEAK on ${kind} through ${filter}: ${leaked.join(' | ')}`);
      a.end(true);
    }
    expect(counts.subscribeRefused).toBe(counts.subscribeTried);
  });

  it('refuses expired, revoked and foreign certificates, and drops a revoked connected guest', async () => {
    const DAY = 24 * 3600 * 1000;
    const other = await createCa({ commonName: 'someone else' });
    const certs = [
      await issueGuestCertificate(pki.ca, {
        guestId: 'guest-x',
        notBefore: new Date(Date.now() - 2 * DAY),
        notAfter: new Date(Date.now() - DAY),
      }),
      await issueGuestCertificate(pki.ca, { guestId: 'guest-y', notBefore: new Date(Date.now() + DAY) }),
      await issueGuestCertificate(other, { guestId: 'guest-b' }),
    ];
    const revoked = await pki.guest('guest-r');
    await broker.revoke(revoked.serial);
    certs.push(revoked);
    for (const cert of certs) {
      counts.certTried++;
      const refused = await rawClient(broker, {
        clientId: 'guest-x',
        ca: pki.ca.certPem,
        cert: cert.certPem,
        key: cert.keyPem,
      })
        .then((c) => {
          c.end(true);
          return false;
        })
        .catch(() => true);
      if (refused) counts.certRefused++;
    }
    // A connected guest whose certificate is revoked is dropped and kept out.
    counts.certTried++;
    const live = await pki.guest('guest-live');
    const client = await rawClient(broker, {
      clientId: 'guest-live',
      ca: pki.ca.certPem,
      cert: live.certPem,
      key: live.keyPem,
    });
    await broker.revoke(live.serial);
    await eventually(() => !client.connected, 8000, 'revoked guest dropped');
    const back = await rawClient(broker, {
      clientId: 'guest-live',
      ca: pki.ca.certPem,
      cert: live.certPem,
      key: live.keyPem,
    })
      .then((c) => {
        c.end(true);
        return false;
      })
      .catch(() => true);
    if (back) counts.certRefused++;
    client.end(true);
    expect(counts.certRefused).toBe(counts.certTried);
  });
});

describe('summary', () => {
  it('every generated cross-guest and certificate case was refused', () => {
    console.log(
      `[security] cross-guest + certificates, both brokers: tried ${totals.tried}, refused ${totals.refused}`,
    );
    expect(totals.tried).toBe(2 * (publishTargets.length * 2 + subscribeFilters.length + 5));
    expect(totals.refused).toBe(totals.tried);
  });
});
