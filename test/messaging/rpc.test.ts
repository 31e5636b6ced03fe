/**
 * Call and cast round trips, typed timeouts and remote errors, MQTT version negotiation and liveness, against
 * the embedded aedes and a real mosquitto. Needs scripts/setup/20-mosquitto.sh (mosquitto installed; the
 * suite starts and stops its own instance).
 */
import {
  allGuestsTopic,
  applyStateMessage,
  CallTimeoutError,
  conductorTopic,
  HandlerError,
  type LivenessView,
  type MqttTransport,
  NotConnectedError,
  RemoteCallError,
  rpcTopic,
  type StateMessage,
} from '@corral/core/messaging';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  brokerKinds,
  connectGuest,
  connectService,
  createTestPki,
  eventually,
  failure,
  rawClient,
  startTestBroker,
  type TestBroker,
  type TestPki,
} from './harness.js';

const guestMethods = {
  add: { args: z.object({ a: z.number(), b: z.number() }), result: z.object({ sum: z.number() }) },
  fail: { args: z.object({}), result: z.null() },
  prepare: { args: z.object({ packages: z.array(z.string()) }) },
};

const conductorMessages = {
  heartbeat: { args: z.object({ status: z.string() }) },
};

describe.each(brokerKinds)('call and cast over %s', (kind) => {
  let pki: TestPki;
  let broker: TestBroker;
  let service: MqttTransport;
  let guest: MqttTransport;
  const prepared: string[][] = [];
  const heartbeats: Array<{ guestId?: string; status: string; seq: number }> = [];

  beforeAll(async () => {
    pki = await createTestPki();
    broker = await startTestBroker(kind, pki);
    service = await connectService(broker, pki);
    guest = await connectGuest(broker, pki, 'guest-a');
    await guest.handle(rpcTopic('guest-a'), guestMethods, {
      add: ({ a, b }) => ({ sum: a + b }),
      fail: () => {
        throw new HandlerError('DATASTORE_DOWN', 'redis is not running');
      },
      prepare: ({ packages }) => {
        prepared.push(packages);
      },
    });
    await service.handle(
      allGuestsTopic('conductor'),
      conductorMessages,
      {
        heartbeat: ({ status }, ctx) => {
          heartbeats.push({ guestId: ctx.guestId, status, seq: ctx.seq });
        },
      },
      { share: 'conductor' },
    );
  });

  afterAll(async () => {
    await guest?.close();
    await service?.close();
    await broker?.close();
  });

  it('negotiates the MQTT version the broker offers', () => {
    expect(service.metrics().protocolVersion).toBe(broker.protocolVersion);
    expect(guest.metrics().protocolVersion).toBe(broker.protocolVersion);
    // Shared subscriptions only where the broker has them (mosquitto via MQTT 5), never on aedes.
    expect(service.metrics().sharedSubscriptions).toBe(kind === 'mosquitto');
  });

  it('calls a guest and gets its typed result', async () => {
    const result = await service.call('guest-a', 'add', { a: 2, b: 3 }, { result: guestMethods.add.result });
    expect(result).toEqual({ sum: 5 });
    const many = await Promise.all(
      Array.from({ length: 20 }, (_, i) => service.call('guest-a', 'add', { a: i, b: 1 }, { timeoutMs: 5000 })),
    );
    expect(many).toEqual(Array.from({ length: 20 }, (_, i) => ({ sum: i + 1 })));
  });

  it('casts to a guest (QoS 1) and the handler runs once', async () => {
    await service.cast('guest-a', 'prepare', { packages: ['redis-server'] });
    await eventually(() => prepared.length === 1, 5000, 'prepare cast');
    expect(prepared[0]).toEqual(['redis-server']);
  });

  it('guests cast heartbeats to the conductor topic with per-boot sequence numbers', async () => {
    await guest.cast(conductorTopic('guest-a'), 'heartbeat', { status: 'healthy' });
    await guest.cast(conductorTopic('guest-a'), 'heartbeat', { status: 'healthy' });
    await eventually(() => heartbeats.length >= 2, 5000, 'heartbeats');
    expect(heartbeats.every((h) => h.guestId === 'guest-a')).toBe(true);
    expect(heartbeats[1]!.seq).toBeGreaterThan(heartbeats[0]!.seq);
  });

  it('a guest cannot even try to publish outside its own channels (TopicForbiddenError, connection kept)', async () => {
    const error = await failure(guest.cast(conductorTopic('guest-b'), 'heartbeat', { status: 'forged' }));
    expect(error.code).toBe('TOPIC_FORBIDDEN');
    await expect(guest.cast('guest-a', 'prepare', { packages: [] })).rejects.toMatchObject({ code: 'TOPIC_FORBIDDEN' });
    expect(guest.connected).toBe(true);
  });

  it('a call to an absent guest times out with CallTimeoutError', async () => {
    const started = Date.now();
    const error = await failure(service.call('guest-nobody', 'add', { a: 1, b: 1 }, { timeoutMs: 400 }));
    expect(error).toBeInstanceOf(CallTimeoutError);
    expect(error.code).toBe('CALL_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a call can be cancelled with an AbortSignal', async () => {
    const controller = new AbortController();
    const pending = service.call(
      'guest-nobody',
      'add',
      { a: 1, b: 1 },
      { timeoutMs: 10_000, signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ code: 'CALL_ABORTED' });
  });

  it('remote failures come back as typed RemoteCallError', async () => {
    const failed = await failure(service.call('guest-a', 'fail', {}));
    expect(failed).toBeInstanceOf(RemoteCallError);
    expect(failed.remoteCode).toBe('DATASTORE_DOWN');
    const unknown = await failure(service.call('guest-a', 'drop_database', {}));
    expect(unknown.remoteCode).toBe('UNKNOWN_METHOD');
    const bad = await failure(service.call('guest-a', 'add', { a: 'two', b: 3 }));
    expect(bad.remoteCode).toBe('BAD_ARGS');
    expect(bad.message).toContain('a');
    expect(guest.metrics().malformedByReason).toMatchObject({ unknown_method: 1, bad_args: 1 });
  });

  it('publishes a retained birth, and a will whose boot id decides whether it counts', async () => {
    const views = new Map<string, LivenessView>();
    const seen: StateMessage[] = [];
    const stopWatching = await service.watchState((guestId, message) => {
      seen.push(message);
      views.set(guestId, applyStateMessage(views.get(guestId), message));
    });
    await eventually(() => views.get('guest-a')?.alive === true, 5000, 'retained birth of guest-a');
    expect(views.get('guest-a')?.bootId).toBe(guest.bootId);

    // A guest that vanishes without DISCONNECT: the broker publishes its will.
    const cert = await pki.guest('guest-w');
    const will = { v: 1, state: 'death', guestId: 'guest-w', bootId: 'boot-1', at: Date.now() };
    const raw = await rawClient(broker, {
      clientId: 'guest-w',
      ca: pki.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      keepalive: 1,
      will: {
        topic: 'corral/v1/guest/guest-w/state',
        payload: Buffer.from(JSON.stringify(will)),
        qos: 1,
        retain: true,
      },
    });
    await raw.publishAsync(
      'corral/v1/guest/guest-w/state',
      JSON.stringify({ v: 1, state: 'birth', guestId: 'guest-w', bootId: 'boot-1', at: Date.now() }),
      { qos: 1, retain: true },
    );
    await eventually(() => views.get('guest-w')?.alive === true, 5000, 'birth of guest-w');
    raw.stream.destroy();
    await eventually(() => views.get('guest-w')?.alive === false, 8000, 'will of guest-w');

    // A late will from an older boot does not kill the newer one.
    const newer = applyStateMessage(undefined, { v: 1, state: 'birth', guestId: 'x', bootId: 'boot-2', at: 0 });
    expect(applyStateMessage(newer, { v: 1, state: 'death', guestId: 'x', bootId: 'boot-1', at: 0 }).alive).toBe(true);
    await stopWatching();
  });

  it('a clean close publishes the guest death; calls on a closed transport fail fast', async () => {
    const views = new Map<string, LivenessView>();
    const stopWatching = await service.watchState((guestId, message) => {
      views.set(guestId, applyStateMessage(views.get(guestId), message));
    });
    const short = await connectGuest(broker, pki, 'guest-c');
    await eventually(() => views.get('guest-c')?.alive === true, 5000, 'birth of guest-c');
    await short.close();
    await eventually(() => views.get('guest-c')?.alive === false, 5000, 'death of guest-c');
    await expect(short.call('guest-a', 'add', {})).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
    await stopWatching();
  });

  it('while the broker is unreachable a call fails with NotConnectedError after the bounded wait', async () => {
    const cert = await pki.service('control2');
    const { createMqttTransport, serviceIdentity } = await import('@corral/core/messaging');
    const offline = createMqttTransport({
      url: 'mqtts://127.0.0.1:1',
      ca: pki.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      identity: serviceIdentity('control2'),
      connectWaitMs: 300,
      outboxLimit: 2,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    const started = Date.now();
    const error = await failure(offline.call('guest-a', 'add', { a: 1, b: 2 }, { timeoutMs: 5000 }));
    expect(error).toBeInstanceOf(NotConnectedError);
    expect(Date.now() - started).toBeLessThan(2000);
    // Casts made offline wait in the bounded outbox; beyond it they are refused, not buffered without end.
    await offline.cast('guest-a', 'prepare', { packages: [] });
    await offline.cast('guest-a', 'prepare', { packages: [] });
    expect(offline.metrics().outbox).toBe(2);
    await expect(offline.cast('guest-a', 'prepare', { packages: [] })).rejects.toMatchObject({ code: 'OUTBOX_FULL' });
    await offline.close();
  });
});
