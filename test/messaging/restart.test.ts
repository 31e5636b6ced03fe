/**
 * The broker restarts mid-flight: clients reconnect with back-off, casts made while offline wait in the
 * outbox and are delivered (QoS 1, persistent sessions keep the receivers' subscriptions), a call started during
 * the outage completes, and duplicated deliveries run the handler once. Against aedes (same in-process
 * persistence across the restart) and mosquitto (persistence on disk). Needs scripts/setup/20-mosquitto.sh.
 */
import { allGuestsTopic, conductorTopic, encodeEnvelope, type MqttTransport, rpcTopic } from '@corral/core/messaging';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  brokerKinds,
  connectGuest,
  connectService,
  createTestPki,
  eventually,
  rawClient,
  startTestBroker,
  type TestBroker,
  type TestPki,
} from './harness.js';

const guestMethods = {
  prepare: { args: z.object({ tag: z.number() }) },
  echo: { args: z.object({ tag: z.number() }), result: z.object({ tag: z.number() }) },
};
const conductorMessages = { report: { args: z.object({ tag: z.number() }) } };

function count(list: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const tag of list) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  return counts;
}

describe.each(brokerKinds)('broker restart on %s', (kind) => {
  let pki: TestPki;
  let broker: TestBroker;
  let service: MqttTransport;
  let guest: MqttTransport;
  const prepared: number[] = [];
  const reports: number[] = [];

  beforeAll(async () => {
    pki = await createTestPki();
    broker = await startTestBroker(kind, pki);
    const fast = { backoff: { initialMs: 50, maxMs: 400 }, connectWaitMs: 10_000 };
    service = await connectService(broker, pki, 'control', fast);
    guest = await connectGuest(broker, pki, 'guest-r', fast);
    await guest.handle(rpcTopic('guest-r'), guestMethods, {
      prepare: ({ tag }) => void prepared.push(tag),
      echo: ({ tag }) => ({ tag }),
    });
    await service.handle(allGuestsTopic('conductor'), conductorMessages, {
      report: ({ tag }) => void reports.push(tag),
    });
  });

  afterAll(async () => {
    await guest?.close();
    await service?.close();
    await broker?.close();
  });

  it('reconnects and delivers the casts made while the broker was down, once each', async () => {
    await service.cast('guest-r', 'prepare', { tag: 0 });
    await eventually(() => prepared.includes(0), 5000, 'first cast');

    await broker.stop();
    await eventually(() => !service.connected && !guest.connected, 5000, 'both offline');
    const casts: Promise<void>[] = [];
    for (let tag = 1; tag <= 20; tag++) {
      casts.push(service.cast('guest-r', 'prepare', { tag }));
      casts.push(guest.cast(conductorTopic('guest-r'), 'report', { tag }));
    }
    await Promise.all(casts);
    expect(service.metrics().outbox).toBe(20);
    expect(guest.metrics().outbox).toBe(20);
    // A call started during the outage waits (bounded by connectWaitMs) and completes after the restart.
    const call = service.call('guest-r', 'echo', { tag: 99 }, { timeoutMs: 15_000 });

    await broker.start();
    await eventually(() => service.connected && guest.connected, 10_000, 'both reconnected');
    await expect(call).resolves.toEqual({ tag: 99 });
    await eventually(() => prepared.length >= 21 && reports.length >= 20, 10_000, 'outbox delivered');
    expect([...count(prepared).values()].every((n) => n === 1)).toBe(true);
    expect([...count(reports).values()].every((n) => n === 1)).toBe(true);
    expect(count(prepared).size).toBe(21);
    expect(service.metrics().reconnects).toBeGreaterThanOrEqual(1);
    expect(service.metrics().outbox).toBe(0);
  });

  it('a message delivered twice runs its handler once (duplicate window)', async () => {
    const cert = await pki.service('control2');
    const raw = await rawClient(broker, {
      clientId: 'service.control2',
      ca: pki.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
    });
    const envelope = encodeEnvelope({
      v: 1,
      id: 'dup-1',
      from: 'service.control2',
      bootId: 'b',
      seq: 1,
      sentAt: Date.now(),
      ttlMs: 60_000,
      kind: 'cast',
      method: 'prepare',
      args: { tag: 500 },
    });
    const before = guest.metrics().duplicates;
    for (let i = 0; i < 3; i++) await raw.publishAsync(rpcTopic('guest-r'), envelope, { qos: 1, dup: i > 0 });
    await eventually(() => guest.metrics().duplicates - before === 2, 5000, 'duplicates counted');
    expect(prepared.filter((t) => t === 500)).toEqual([500]);
    raw.end(true);
  });
});
