/**
 * What the brokers bound below MQTT and per guest, against raw sockets:
 *   - embedded broker: TCP connections that never start TLS are closed (handshake timeout), and one source
 *     cannot hold more than `maxPendingPerSource` unauthenticated connections; a real guest still connects;
 *   - both brokers: a publish whose header announces more than MAX_PACKET_BYTES ends the guest's connection
 *     at its first bytes (the 200 MiB body is never sent in full; we stream at most a few MiB);
 *   - embedded broker: a packet left half-sent is cut off after `packetTimeoutMs`; keepalive 0 is refused;
 *     a guest may retain only its own small state message.
 * Needs scripts/setup/20-mosquitto.sh for the mosquitto cases (reuses test/messaging/harness.ts).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { type BrokerHandle, startBroker } from '@corral/core';
import { connectMqttTransport, guestIdentity, MAX_PACKET_BYTES } from '@corral/core/messaging';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  brokerKinds,
  createTestPki,
  eventually,
  rawClient,
  startTestBroker,
  type TestBroker,
  type TestPki,
} from '../messaging/harness.js';

/** MQTT 3.1.1 remaining length. */
function varint(length: number): number[] {
  const bytes: number[] = [];
  let rest = length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return bytes;
}

const utf8 = (text: string) => {
  const bytes = Buffer.from(text);
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
};

function connectPacket(clientId: string, keepaliveSec: number): Buffer {
  const body = Buffer.concat([
    utf8('MQTT'),
    Buffer.from([4, 0x02, keepaliveSec >> 8, keepaliveSec & 0xff]),
    utf8(clientId),
  ]);
  return Buffer.concat([Buffer.from([0x10, ...varint(body.length)]), body]);
}

/** The fixed header and topic of a QoS 0 PUBLISH whose payload is `payloadBytes` long. */
function publishHeader(topic: string, payloadBytes: number, retain = false): Buffer {
  const topicBytes = utf8(topic);
  return Buffer.concat([Buffer.from([retain ? 0x31 : 0x30, ...varint(topicBytes.length + payloadBytes)]), topicBytes]);
}

interface RawSession {
  socket: TLSSocket;
  closed: Promise<void>;
  isClosed(): boolean;
  /** The first bytes the broker sent (the CONNACK, or nothing when it refused). */
  connack: Promise<Buffer | undefined>;
}

/** A guest's TLS connection that speaks MQTT by hand (so nothing in a client library stops a bad packet). */
async function rawGuest(url: string, pki: TestPki, guestId: string, keepaliveSec = 30): Promise<RawSession> {
  const { hostname, port } = new URL(url);
  const cert = await pki.guest(guestId);
  const socket = tlsConnect({
    host: hostname,
    port: Number(port),
    ca: pki.ca.certPem,
    cert: cert.certPem,
    key: cert.keyPem,
  });
  socket.on('error', () => undefined);
  let closed = false;
  const closedPromise = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true;
      resolve();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const connack = new Promise<Buffer | undefined>((resolve) => {
    socket.once('data', (data: Buffer) => resolve(data));
    socket.once('close', () => resolve(undefined));
  });
  socket.write(connectPacket(guestId, keepaliveSec));
  return { socket, closed: closedPromise, isClosed: () => closed, connack };
}

/** Writes up to `limitBytes` of zeros, a chunk at a time, while the socket stays open; returns what was written. */
async function stream(socket: Socket, limitBytes: number, isClosed: () => boolean): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  while (written < limitBytes && !isClosed()) {
    if (!socket.write(chunk)) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
    written += chunk.length;
  }
  return written;
}

describe('embedded broker: connections that never authenticate', () => {
  let pki: TestPki;
  let broker: BrokerHandle;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    pki = await createTestPki();
    broker = await startBroker({
      tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem },
      limits: { handshakeTimeoutMs: 3_000, maxPendingPerSource: 20 },
    });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await broker?.stop();
  });

  it('closes TCP connections that never start TLS, caps them per source, and a real guest still connects', async () => {
    let closed = 0;
    // The attacker comes from 127.0.0.2 (any 127/8 address reaches loopback), the guest from 127.0.0.1.
    for (let i = 0; i < 100; i++) {
      const socket = netConnect({ host: '127.0.0.1', port: broker.port, localAddress: '127.0.0.2' });
      socket.on('error', () => undefined);
      socket.once('close', () => closed++);
      sockets.push(socket);
    }
    await eventually(() => closed >= 80, 10_000, 'the connections over the per-source cap closed');
    const cert = await pki.guest('guest-limits');
    const guest = await connectMqttTransport({
      url: broker.url,
      ca: pki.ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      identity: guestIdentity('guest-limits'),
    });
    expect(guest.connected).toBe(true);
    await guest.close();
    await eventually(() => closed === 100, 20_000, 'every silent connection closed by the handshake timeout');
  });
});

describe.each(brokerKinds)('packet size on %s', (kind) => {
  let pki: TestPki;
  let broker: TestBroker;
  const sessions: RawSession[] = [];

  beforeAll(async () => {
    pki = await createTestPki();
    broker = await startTestBroker(kind, pki);
  });
  afterEach(() => {
    for (const session of sessions.splice(0)) session.socket.destroy();
  });
  afterAll(async () => {
    await broker?.close();
  });

  it('a guest announcing a 200 MiB publish on its own topic is disconnected before it is buffered', async () => {
    const observerCert = await pki.service('control');
    const observer = await rawClient(broker, {
      clientId: 'service.control',
      ca: pki.ca.certPem,
      cert: observerCert.certPem,
      key: observerCert.keyPem,
    });
    const received: number[] = [];
    observer.on('message', (_topic, payload) => received.push(payload.length));
    await observer.subscribeAsync('corral/v1/guest/+/conductor', { qos: 0 });

    const session = await rawGuest(broker.url, pki, 'guest-big');
    sessions.push(session);
    const connack = await session.connack;
    expect(connack?.[0]).toBe(0x20);
    expect(connack?.[3]).toBe(0); // accepted
    session.socket.write(publishHeader('corral/v1/guest/guest-big/conductor', 200 * 1024 * 1024));
    const written = await stream(session.socket, 8 * 1024 * 1024, session.isClosed);
    // The broker hung up within the few MiB we were willing to send (written stops short of them).
    expect(written).toBeLessThan(8 * 1024 * 1024);
    await session.closed;
    expect(received).toEqual([]);

    // Just under the limit still goes through.
    const fine = await rawGuest(broker.url, pki, 'guest-fine');
    sessions.push(fine);
    await fine.connack;
    const payloadBytes = MAX_PACKET_BYTES - 1024;
    fine.socket.write(publishHeader('corral/v1/guest/guest-fine/conductor', payloadBytes));
    fine.socket.write(Buffer.alloc(payloadBytes));
    await eventually(() => received.includes(payloadBytes), 10_000, 'the largest allowed publish delivered');
    expect(fine.isClosed()).toBe(false);
    observer.end(true);
  });
});

describe('embedded broker: time and retained bounds', () => {
  let pki: TestPki;
  let broker: BrokerHandle;

  beforeAll(async () => {
    pki = await createTestPki();
    broker = await startBroker({
      tls: { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem },
      limits: { packetTimeoutMs: 2_000 },
    });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('refuses keepalive 0', async () => {
    const session = await rawGuest(broker.url, pki, 'guest-nokeepalive', 0);
    const connack = await session.connack;
    // Either a refusing CONNACK or a closed connection, never an accepted session.
    expect(connack === undefined || connack[3] !== 0).toBe(true);
    await session.closed;
  });

  it('cuts off a packet left half-sent', async () => {
    const session = await rawGuest(broker.url, pki, 'guest-slow');
    expect((await session.connack)?.[3]).toBe(0);
    session.socket.write(publishHeader('corral/v1/guest/guest-slow/conductor', 100 * 1024));
    session.socket.write(Buffer.alloc(1024));
    await session.closed;
  });

  it('keeps no retained message of a guest but its small state', async () => {
    const retain = async (topic: string, payload: Buffer) => {
      const session = await rawGuest(broker.url, pki, 'guest-retain');
      expect((await session.connack)?.[3]).toBe(0);
      session.socket.write(Buffer.concat([publishHeader(topic, payload.length, true), payload]));
      session.socket.end(Buffer.from([0xe0, 0])); // DISCONNECT
      await session.closed;
    };
    await retain('corral/v1/guest/guest-retain/conductor', Buffer.alloc(64 * 1024));
    await retain('corral/v1/guest/guest-retain/reply', Buffer.from('{"small":1}'));
    await retain('corral/v1/guest/guest-retain/state', Buffer.alloc(64 * 1024));
    await retain('corral/v1/guest/guest-retain/state', Buffer.from('{"ok":1}'));
    const serviceCert = await pki.service('control');
    const service = await rawClientFor(broker, pki, 'service.control', serviceCert);
    const retained: Array<{ topic: string; bytes: number }> = [];
    service.on('message', (topic, payload, packet) => {
      if (packet.retain) retained.push({ topic, bytes: payload.length });
    });
    // Each topic on its own subscription, the state last: retained messages come in subscription order.
    for (const channel of ['conductor', 'reply', 'state']) {
      await service.subscribeAsync(`corral/v1/guest/guest-retain/${channel}`, { qos: 1 });
    }
    await eventually(() => retained.length > 0, 5_000, 'the retained state');
    expect(retained).toEqual([{ topic: 'corral/v1/guest/guest-retain/state', bytes: 8 }]);
    service.end(true);
  });
});

function rawClientFor(broker: BrokerHandle, pki: TestPki, clientId: string, cert: { certPem: string; keyPem: string }) {
  return rawClient({ kind: 'aedes', url: broker.url, protocolVersion: 4 } as TestBroker, {
    clientId,
    ca: pki.ca.certPem,
    cert: cert.certPem,
    key: cert.keyPem,
  });
}
