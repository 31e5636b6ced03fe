/**
 * The conductor against hostile and unlucky guests, over the real embedded broker with real certificates:
 * a heartbeat under another guest's identity, messages older by (boot id, sequence), malformed payloads; the
 * sweep of silent guests and their recovery; last wills of the current and of an older boot. After each
 * rejection a good heartbeat must still be applied (the conductor keeps serving).
 * Needs nothing beyond npm deps (the embedded broker runs in-process).
 */
import { randomUUID } from 'node:crypto';
import type { ControlPlane } from '@corral/core';
import { conductorTopic, encodeEnvelope, guestIdentity, MqttTransport, stateTopic } from '@corral/core/messaging';
import { issueGuestCertificate } from '@corral/core/pki';
import { connect, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnv, type TestEnv } from '../control-plane/harness.js';

async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('conductor', () => {
  let env: TestEnv;
  let plane: ControlPlane;
  const clients: MqttClient[] = [];
  const transports: MqttTransport[] = [];

  async function instance(id: string) {
    await env.store.createInstance({
      id,
      name: id,
      projectId: 'p',
      provider: 'fake',
      flavor: 'small',
      image: 'corral-guest',
      datastore: { type: 'redis', version: '7' },
      taskStatus: 'NONE',
    });
  }

  async function guestTransport(guestId: string): Promise<MqttTransport> {
    const cert = await issueGuestCertificate(env.ca, { guestId });
    const transport = new MqttTransport({
      url: env.broker.url,
      ca: env.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      identity: guestIdentity(guestId),
      protocolVersion: 4,
    });
    transports.push(transport);
    await transport.waitUntilConnected(5_000);
    return transport;
  }

  async function rawGuest(guestId: string): Promise<MqttClient> {
    const cert = await issueGuestCertificate(env.ca, { guestId });
    const client = connect(env.broker.url, {
      clientId: guestId,
      ca: env.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    return client;
  }

  function heartbeat(from: string, bootId: string, seq: number, args: unknown): Buffer {
    return encodeEnvelope({
      v: 1,
      id: randomUUID(),
      from,
      bootId,
      seq,
      sentAt: Date.now() - 3_600_000, // a guest clock an hour behind must not matter
      ttlMs: 60_000,
      kind: 'cast',
      method: 'heartbeat',
      args,
    });
  }

  const statusOf = async (id: string) => (await env.store.getInstance(id)).serviceStatus;

  beforeAll(async () => {
    env = await startEnv();
    plane = await env.startPlane({ roles: ['conductor'], pki: undefined });
  });
  afterAll(async () => {
    for (const client of clients) client.end(true);
    for (const transport of transports) await transport.close().catch(() => undefined);
    await env?.close();
  });

  it('applies a heartbeat and emits the status event at once', async () => {
    await instance('guest-a');
    const a = await guestTransport('guest-a');
    const event = plane.events.waitFor('guest-a', (e) => (e.kind === 'service-status' ? e : undefined));
    await a.cast(conductorTopic('guest-a'), 'heartbeat', { instanceId: 'guest-a', serviceStatus: 'HEALTHY' });
    expect((await event.promise).status).toBe('HEALTHY');
    expect(await statusOf('guest-a')).toBe('HEALTHY');
    expect((await env.store.getInstance('guest-a')).lastSeenAt).toBeGreaterThan(0);
  });

  it("rejects a heartbeat sent under another guest's identity, and keeps serving", async () => {
    await instance('guest-b');
    const b = await guestTransport('guest-b');
    const before = plane.conductor?.metrics.identityMismatch ?? 0;
    // B speaks for A on its own topic: the conductor refuses (A belongs to guest-a).
    await b.cast(conductorTopic('guest-b'), 'heartbeat', { instanceId: 'guest-a', serviceStatus: 'FAILED' });
    await eventually(async () => (plane.conductor?.metrics.identityMismatch ?? 0) > before, 5_000, 'rejection');
    expect(await statusOf('guest-a')).toBe('HEALTHY');
    // B publishing on A's topic never gets past the broker's ACL; its own heartbeat still works.
    const raw = await rawGuest('guest-b2');
    raw.publish(
      conductorTopic('guest-a'),
      heartbeat('guest-a', 'x', 1_000_000, { instanceId: 'guest-a', serviceStatus: 'FAILED' }),
      { qos: 1 },
    );
    await b.cast(conductorTopic('guest-b'), 'heartbeat', { instanceId: 'guest-b', serviceStatus: 'HEALTHY' });
    await eventually(async () => (await statusOf('guest-b')) === 'HEALTHY', 5_000, 'guest-b healthy');
    expect(await statusOf('guest-a')).toBe('HEALTHY');
  });

  it('orders by (boot id, sequence): older messages and the replaced boot are stale', async () => {
    await instance('guest-c');
    const c = await rawGuest('guest-c');
    const send = (bootId: string, seq: number, serviceStatus: string) =>
      c.publishAsync(
        conductorTopic('guest-c'),
        heartbeat('guest-c', bootId, seq, { instanceId: 'guest-c', serviceStatus }),
        { qos: 1 },
      );
    await send('boot-1', 5, 'HEALTHY');
    await eventually(async () => (await statusOf('guest-c')) === 'HEALTHY', 5_000, 'first');
    const stale = plane.conductor?.metrics.stale ?? 0;
    await send('boot-1', 3, 'FAILED');
    await send('boot-1', 5, 'FAILED');
    await eventually(async () => (plane.conductor?.metrics.stale ?? 0) >= stale + 2, 5_000, 'stale count');
    expect(await statusOf('guest-c')).toBe('HEALTHY');
    await send('boot-2', 1, 'SHUTDOWN');
    await eventually(async () => (await statusOf('guest-c')) === 'SHUTDOWN', 5_000, 'new boot');
    await send('boot-1', 99, 'FAILED');
    await eventually(async () => (plane.conductor?.metrics.stale ?? 0) >= stale + 3, 5_000, 'replaced boot');
    expect(await statusOf('guest-c')).toBe('SHUTDOWN');
    const row = await env.store.getInstance('guest-c');
    expect([row.lastBootId, row.lastSeq]).toEqual(['boot-2', 1]);
  });

  it('rejects malformed payloads and keeps serving', async () => {
    await instance('guest-d');
    const d = await rawGuest('guest-d');
    const topic = conductorTopic('guest-d');
    const malformedBefore = plane.transport.metrics().malformed + (plane.conductor?.metrics.malformed ?? 0);
    await d.publishAsync(topic, Buffer.from('not json at all'), { qos: 1 });
    await d.publishAsync(topic, Buffer.from(JSON.stringify({ hello: 'world' })), { qos: 1 });
    await d.publishAsync(topic, heartbeat('guest-d', 'b', 1, { instanceId: 'guest-d', serviceStatus: 'NOPE' }), {
      qos: 1,
    });
    await d.publishAsync(topic, heartbeat('guest-d', 'b', 2, { serviceStatus: 'HEALTHY' }), { qos: 1 });
    await d.publishAsync(topic, heartbeat('guest-a', 'b', 3, { instanceId: 'guest-d', serviceStatus: 'FAILED' }), {
      qos: 1,
    });
    await d.publishAsync(topic, Buffer.alloc(300 * 1024, 0x7b), { qos: 1 });
    await eventually(
      async () =>
        plane.transport.metrics().malformed + (plane.conductor?.metrics.malformed ?? 0) >= malformedBefore + 6,
      5_000,
      'six rejections',
    );
    expect(await statusOf('guest-d')).toBe('NEW');
    await d.publishAsync(topic, heartbeat('guest-d', 'b', 4, { instanceId: 'guest-d', serviceStatus: 'HEALTHY' }), {
      qos: 1,
    });
    await eventually(async () => (await statusOf('guest-d')) === 'HEALTHY', 5_000, 'still serving');
  });

  it('the sweep marks a silent guest FAILED_TIMEOUT_GUESTAGENT; a returning guest recovers', async () => {
    await instance('guest-e');
    const e = await guestTransport('guest-e');
    await e.cast(conductorTopic('guest-e'), 'heartbeat', { instanceId: 'guest-e', serviceStatus: 'HEALTHY' });
    await eventually(async () => (await statusOf('guest-e')) === 'HEALTHY', 5_000, 'healthy');
    // Expiry is 2 s in these suites; the sweep runs every 100 ms.
    await eventually(async () => (await statusOf('guest-e')) === 'FAILED_TIMEOUT_GUESTAGENT', 5_000, 'timeout');
    expect((await plane.instances.get('guest-e')).status).toBe('ERROR');
    await e.cast(conductorTopic('guest-e'), 'heartbeat', { instanceId: 'guest-e', serviceStatus: 'HEALTHY' });
    await eventually(async () => (await statusOf('guest-e')) === 'HEALTHY', 5_000, 'recovered');
  });

  it("a last will of the guest's current boot marks it at once; one of an older boot is ignored", async () => {
    await instance('guest-f');
    const f = await rawGuest('guest-f');
    const state = (kind: 'birth' | 'death', bootId: string) =>
      f.publishAsync(stateTopic('guest-f'), JSON.stringify({ v: 1, state: kind, guestId: 'guest-f', bootId, at: 0 }), {
        qos: 1,
        retain: true,
      });
    await state('birth', 'f-2');
    await f.publishAsync(
      conductorTopic('guest-f'),
      heartbeat('guest-f', 'f-2', 1, { instanceId: 'guest-f', serviceStatus: 'HEALTHY' }),
      { qos: 1 },
    );
    await eventually(async () => (await statusOf('guest-f')) === 'HEALTHY', 5_000, 'healthy');
    const staleDeaths = plane.conductor?.metrics.staleDeaths ?? 0;
    const presenceIgnored = plane.presence.view('guest-f');
    await state('death', 'f-1');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await statusOf('guest-f')).toBe('HEALTHY');
    expect(plane.presence.view('guest-f')).toEqual(presenceIgnored);
    expect(plane.conductor?.metrics.staleDeaths ?? 0).toBe(staleDeaths);
    await state('death', 'f-2');
    await eventually(async () => (await statusOf('guest-f')) === 'FAILED_TIMEOUT_GUESTAGENT', 2_000, 'will');
    await state('birth', 'f-3');
    await f.publishAsync(
      conductorTopic('guest-f'),
      heartbeat('guest-f', 'f-3', 1, { instanceId: 'guest-f', serviceStatus: 'HEALTHY' }),
      { qos: 1 },
    );
    await eventually(async () => (await statusOf('guest-f')) === 'HEALTHY', 5_000, 'back');
  });
});
