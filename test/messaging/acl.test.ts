/**
 * Topic ACLs: a guest publishes only to its own reply/conductor/state topics and reads only its own rpc topic,
 * on the embedded aedes and on mosquitto (generated ACL). Each attack is followed by a sentinel the observer
 * must see, so "the message never arrived" is checked after the broker has demonstrably delivered later traffic.
 * Needs scripts/setup/20-mosquitto.sh.
 */
import { type MqttTransport, rpcTopic } from '@corral/core/messaging';
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
} from './harness.js';

const methods = { ping: { args: z.object({ tag: z.string() }) } };

describe.each(brokerKinds)('topic ACLs on %s', (kind) => {
  let pki: TestPki;
  let broker: TestBroker;
  let service: MqttTransport;
  let guestB: MqttTransport;
  let observer: MqttClient;
  const observed: Array<{ topic: string; payload: string }> = [];
  const pingedB: string[] = [];

  /** A raw client holding guest A's certificate. */
  async function attacker(clientId = 'guest-a'): Promise<MqttClient> {
    const cert = await pki.guest('guest-a');
    return rawClient(broker, { clientId, ca: pki.ca.certPem, cert: cert.certPem, key: cert.keyPem });
  }

  async function sentinel(tag: string): Promise<void> {
    await service.cast('guest-b', 'ping', { tag });
    await eventually(() => observed.some((m) => m.payload.includes(tag)), 5000, `sentinel ${tag}`);
    await sleep(100);
  }

  beforeAll(async () => {
    pki = await createTestPki();
    broker = await startTestBroker(kind, pki);
    service = await connectService(broker, pki);
    guestB = await connectGuest(broker, pki, 'guest-b');
    await guestB.handle(rpcTopic('guest-b'), methods, { ping: ({ tag }) => void pingedB.push(tag) });
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
    observer?.end(true);
    await guestB?.close();
    await service?.close();
    await broker?.close();
  });

  it("guest A cannot publish on guest B's topics or the control plane's", async () => {
    const targets = [
      'corral/v1/guest/guest-b/conductor',
      'corral/v1/guest/guest-b/state',
      'corral/v1/guest/guest-b/reply',
      'corral/v1/guest/guest-b/rpc',
      'corral/v1/guest/guest-a/rpc',
      'corral/v1/control/anything',
    ];
    for (const [i, topic] of targets.entries()) {
      const a = await attacker();
      const evil = JSON.stringify({ evil: `forged-${i}` });
      // aedes closes the connection on a denied publish; mosquitto drops it (and says so in the MQTT 5 PUBACK).
      a.publish(topic, evil, { qos: 1 }, () => undefined);
      a.publish(topic, evil, { qos: 0 });
      await sleep(50);
      a.end(true);
    }
    await sentinel('after-publish-attacks');
    expect(observed.filter((m) => m.payload.includes('forged'))).toEqual([]);
    expect(pingedB).not.toContain('forged');
  });

  it("guest A cannot read guest B's messages, even with wildcards", async () => {
    const a = await attacker();
    const received: string[] = [];
    a.on('message', (topic) => received.push(topic));
    for (const filter of ['corral/v1/guest/guest-b/rpc', 'corral/v1/guest/+/rpc', 'corral/v1/#', '#']) {
      await a.subscribeAsync(filter, { qos: 1 }).catch(() => undefined);
    }
    await sentinel('secret-for-b');
    expect(pingedB).toContain('secret-for-b');
    expect(received).toEqual([]);
    a.end(true);
  });

  it("guest A's own channels work, and it cannot take over B's session", async () => {
    const a = await attacker();
    await a.publishAsync('corral/v1/guest/guest-a/conductor', JSON.stringify({ own: 'fine' }), { qos: 1 });
    await eventually(() => observed.some((m) => m.payload.includes('"own"')), 5000, "A's own conductor message");
    a.end(true);
    // Connecting with B's client id: refused (aedes) or renamed to A's CN (mosquitto use_username_as_clientid).
    await attacker('guest-b')
      .then((c) => c.end(true))
      .catch(() => undefined);
    await sleep(200);
    expect(guestB.connected).toBe(true);
    expect(guestB.metrics().reconnects).toBe(0);
    await sentinel('b-still-here');
    expect(pingedB).toContain('b-still-here');
  });
});
