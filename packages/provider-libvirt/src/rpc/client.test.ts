import { Duplex, PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KEEPALIVE_PROGRAM } from '../protocol/keepalive.generated.js';
import { RpcClient } from './client.js';
import { ConnectionClosedError, LibvirtError, ProtocolError, RpcAbortedError, RpcTimeoutError } from './errors.js';
import replies from './fixtures/replies.json' with { type: 'json' };
import {
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_COUNT,
  DEFAULT_KEEPALIVE_INTERVAL_MS,
  SLOW_CALL_TIMEOUT_MS,
} from './limits.js';
import { encodePacket, type Packet, PacketFramer, PacketStatus, PacketType } from './packet.js';
import { RemoteClient } from './remote.js';

/** An in-memory daemon: sees the client's packets, answers with whatever the test writes. */
function fakeDaemon() {
  const toClient = new PassThrough();
  const toDaemon = new PassThrough();
  const stream = Duplex.from({ readable: toClient, writable: toDaemon });
  const framer = new PacketFramer();
  const received: Packet[] = [];
  let onPacket: ((packet: Packet) => void) | undefined;
  toDaemon.on('data', (chunk: Buffer) => {
    for (const packet of framer.push(chunk)) {
      received.push(packet);
      onPacket?.(packet);
    }
  });
  const reply = (serial: number, body: Uint8Array, status: PacketStatus = PacketStatus.OK, procedure = 1) =>
    toClient.write(
      encodePacket({ program: 0x20008086, version: 1, procedure, type: PacketType.REPLY, serial, status }, body),
    );
  /** The next packet the client sends (or the first one, if it came already and was not taken yet). */
  let taken = 0;
  const nextPacket = async (): Promise<Packet> => {
    while (received.length <= taken) await new Promise((resolve) => setImmediate(resolve));
    return received[taken++]!;
  };
  return {
    stream,
    received,
    toClient,
    reply,
    nextPacket,
    on(handler: (packet: Packet) => void) {
      onPacket = handler;
    },
  };
}

const target = { program: 0x20008086, version: 1, procedure: 1, name: 'test' };

describe('RpcClient', () => {
  it('multiplexes concurrent calls by serial, whatever order the replies come in', async () => {
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    const calls = [1, 2, 3, 4, 5].map((n) => client.call(target, new Uint8Array([0, 0, 0, n])));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const serials = daemon.received.map((p) => p.header.serial);
    expect(new Set(serials).size).toBe(5);
    for (const packet of [...daemon.received].reverse()) daemon.reply(packet.header.serial, packet.body);
    const results = await Promise.all(calls);
    expect(results.map((body) => body[3])).toEqual([1, 2, 3, 4, 5]);
    client.close();
  });

  it('turns an ERROR reply into LibvirtError (recorded body)', async () => {
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    const recorded = Buffer.from(replies.find((r) => r.name === 'domain_lookup_by_name_missing')!.hex, 'hex');
    const [packet] = new PacketFramer().push(recorded);
    daemon.on((call) => daemon.reply(call.header.serial, packet!.body, PacketStatus.ERROR));
    await expect(client.call(target, new Uint8Array())).rejects.toMatchObject({
      name: 'LibvirtError',
      code: 42,
      domain: 10,
    });
    await expect(client.call(target, new Uint8Array())).rejects.toBeInstanceOf(LibvirtError);
    client.close();
  });

  it('rejects calls in flight with ConnectionClosedError when the daemon goes away, and later calls at once', async () => {
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    const pending = client.call(target, new Uint8Array());
    daemon.stream.destroy();
    await expect(pending).rejects.toBeInstanceOf(ConnectionClosedError);
    await expect(pending).rejects.toThrow(/test failed: /);
    await expect(client.call(target, new Uint8Array())).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('fails everything with ConnectionClosedError on a corrupt stream instead of hanging', async () => {
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    const pending = client.call(target, new Uint8Array());
    daemon.toClient.write(Buffer.from([0, 0, 0, 1, 2, 3, 4, 5]));
    await expect(pending).rejects.toThrow(/protocol error/);
    expect(client.closed).toBe(true);
  });

  it.each([
    ['program', { program: 0x20008087 }],
    ['version', { version: 2 }],
    ['procedure', { procedure: 2 }],
  ])('rejects a reply on the right serial for another %s, and drops the connection', async (_field, wrong) => {
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    const other = client.call(target, new Uint8Array());
    const call = await daemon.nextPacket();
    daemon.toClient.write(
      encodePacket({ ...call.header, ...wrong, type: PacketType.REPLY, status: PacketStatus.OK }, new Uint8Array()),
    );
    await expect(other).rejects.toBeInstanceOf(ProtocolError);
    await expect(other).rejects.toThrow(/test failed: the reply on serial \d+ is for program/);
    expect(client.closed).toBe(true);
    await expect(client.call(target, new Uint8Array())).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('times a call out when asked to', async () => {
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    await expect(client.call(target, new Uint8Array(), { timeoutMs: 20 })).rejects.toBeInstanceOf(RpcTimeoutError);
    client.close();
  });

  it('answers keepalive PING with PONG', async () => {
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    daemon.toClient.write(
      encodePacket(
        { program: KEEPALIVE_PROGRAM, version: 1, procedure: 1, type: PacketType.MESSAGE, serial: 0, status: 0 },
        new Uint8Array(),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(daemon.received.map((p) => [p.header.program, p.header.procedure])).toEqual([[KEEPALIVE_PROGRAM, 2]]);
    client.close();
  });

  it('streams an upload: CALL, STREAM CONTINUE chunks of at most 256 KiB, STREAM OK, then waits for the ack', async () => {
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    daemon.on((packet) => {
      if (packet.header.type === PacketType.CALL) daemon.reply(packet.header.serial, new Uint8Array());
      if (packet.header.type === PacketType.STREAM && packet.header.status === PacketStatus.OK) {
        daemon.toClient.write(
          encodePacket({ ...packet.header, type: PacketType.STREAM, status: PacketStatus.OK }, new Uint8Array()),
        );
      }
    });
    const data = new Uint8Array(600_000).fill(9);
    await client.upload(target, new Uint8Array(), [data]);
    const streamed = daemon.received.filter((p) => p.header.type === PacketType.STREAM);
    expect(streamed.map((p) => p.header.status)).toEqual([2, 2, 2, 0]);
    expect(streamed.reduce((sum, p) => sum + p.body.byteLength, 0)).toBe(600_000);
    expect(new Set(daemon.received.map((p) => p.header.serial)).size).toBe(1);
    client.close();
  });

  it('fails an upload at once when the daemon errors the stream right after its reply (same chunk)', async () => {
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    const recorded = Buffer.from(replies.find((r) => r.name === 'domain_lookup_by_name_missing')!.hex, 'hex');
    const [errorPacket] = new PacketFramer().push(recorded);
    daemon.on((packet) => {
      if (packet.header.type !== PacketType.CALL) return;
      const reply = encodePacket(
        { ...packet.header, type: PacketType.REPLY, status: PacketStatus.OK },
        new Uint8Array(),
      );
      const failure = encodePacket(
        { ...packet.header, type: PacketType.STREAM, status: PacketStatus.ERROR },
        errorPacket!.body,
      );
      daemon.toClient.write(Buffer.concat([reply, failure]));
    });
    async function* never() {
      yield new Uint8Array(10);
      await new Promise((resolve) => setTimeout(resolve, 50));
      yield new Uint8Array(10);
    }
    await expect(client.upload(target, new Uint8Array(), never())).rejects.toBeInstanceOf(LibvirtError);
    client.close();
  });
});

describe('RpcClient deadlines and abort (a daemon that answers nothing)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  const fakeTimers = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });

  it('gives every call a deadline by default (30 s), and ignores the reply that comes after it', async () => {
    fakeTimers();
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream, { keepaliveIntervalMs: 0 }); // keepalive would close it first
    const call = client.call(target, new Uint8Array());
    const outcome = call.catch((error: unknown) => error);
    const sent = await daemon.nextPacket();
    await vi.advanceTimersByTimeAsync(DEFAULT_CALL_TIMEOUT_MS - 1);
    expect(await Promise.race([outcome, 'pending'])).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toBeInstanceOf(RpcTimeoutError);
    daemon.reply(sent.header.serial, new Uint8Array()); // late: dropped, the connection stays usable
    const next = client.call(target, new Uint8Array());
    daemon.reply((await daemon.nextPacket()).header.serial, new Uint8Array([0, 0, 0, 7]));
    expect((await next)[3]).toBe(7);
    client.close();
  });

  it('gives the calls known to be slow (domain_create, ...) 120 s', async () => {
    fakeTimers();
    const daemon = fakeDaemon();
    const remote = new RemoteClient(new RpcClient(daemon.stream, { keepaliveIntervalMs: 0 }));
    const dom = { name: 'vm', uuid: new Uint8Array(16), id: -1 };
    const outcome = remote.call('domain_create', { dom }).catch((error: unknown) => error);
    await daemon.nextPacket();
    await vi.advanceTimersByTimeAsync(SLOW_CALL_TIMEOUT_MS - 1);
    expect(await Promise.race([outcome, 'pending'])).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toBeInstanceOf(RpcTimeoutError);
    remote.close();
  });

  it('ends a call at once when its signal aborts, whatever its deadline', async () => {
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    const controller = new AbortController();
    const call = client.call(target, new Uint8Array(), { timeoutMs: 0, signal: controller.signal });
    await daemon.nextPacket();
    controller.abort(new Error('gave up'));
    await expect(call).rejects.toBeInstanceOf(RpcAbortedError);
    await expect(call).rejects.toMatchObject({ cause: new Error('gave up') });
    await expect(client.call(target, new Uint8Array(), { signal: controller.signal })).rejects.toBeInstanceOf(
      RpcAbortedError,
    );
    expect(client.closed).toBe(false);
    client.close();
  });

  it('pings by default, and closes a connection on which the daemon fell silent', async () => {
    fakeTimers();
    const daemon = fakeDaemon();
    const client = new RpcClient(daemon.stream);
    const closed = new Promise<ConnectionClosedError>((resolve) => client.onClose(resolve));
    await vi.advanceTimersByTimeAsync(DEFAULT_KEEPALIVE_INTERVAL_MS * (DEFAULT_KEEPALIVE_COUNT + 1));
    const pings = daemon.received.filter((p) => p.header.program === KEEPALIVE_PROGRAM && p.header.procedure === 1);
    expect(pings).toHaveLength(DEFAULT_KEEPALIVE_COUNT);
    expect((await closed).message).toMatch(/did not answer 5 keepalive pings/);
    expect(client.closed).toBe(true);
  });
});
