import type { Duplex } from 'node:stream';
import { KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, KeepaliveProcedure } from '../protocol/keepalive.generated.js';
import { remote_error } from '../protocol/remote.generated.js';
import { decode, XdrError } from '../xdr/index.js';
import { ConnectionClosedError, LibvirtError, ProtocolError, RpcTimeoutError } from './errors.js';
import {
  encodePacket,
  type Packet,
  PacketFramer,
  type PacketHeader,
  PacketStatus,
  PacketType,
  STREAM_CHUNK_MAX,
} from './packet.js';

export interface CallTarget {
  program: number;
  version: number;
  procedure: number;
  /** For error messages. */
  name?: string;
}

interface Pending {
  target: CallTarget;
  resolve(body: Uint8Array): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
  /** What waits on the same serial after a successful REPLY (an upload stream's end). */
  then?: Pending;
}

export interface RpcClientOptions {
  /** Rejects a call with RpcTimeoutError when no reply came in this time (default: none). */
  callTimeoutMs?: number;
  /** Sends a keepalive PING this often and closes the connection after `keepaliveCount` unanswered ones. */
  keepaliveIntervalMs?: number;
  keepaliveCount?: number;
}

/** An asynchronous message from the daemon (events), before its body is decoded. */
export type MessageListener = (header: PacketHeader, body: Uint8Array) => void;

/**
 * libvirt's RPC over one byte stream: calls multiplexed by serial, replies matched back, daemon messages
 * (events) and keepalive handled, streams sent. When the stream ends, every pending call rejects with a
 * ConnectionClosedError and later calls reject at once.
 */
export class RpcClient {
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly framer = new PacketFramer();
  private readonly messageListeners = new Set<MessageListener>();
  private readonly closeListeners = new Set<(error: ConnectionClosedError) => void>();
  private closedWith?: ConnectionClosedError;
  private keepaliveTimer?: NodeJS.Timeout;
  private unansweredPings = 0;

  constructor(
    private readonly stream: Duplex,
    private readonly options: RpcClientOptions = {},
  ) {
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (error) =>
      this.shutdown(new ConnectionClosedError(`libvirt connection failed: ${error.message}`, { cause: error })),
    );
    stream.on('close', () => this.shutdown(new ConnectionClosedError('libvirtd closed the connection')));
    stream.on('end', () => this.shutdown(new ConnectionClosedError('libvirtd closed the connection')));
    if (options.keepaliveIntervalMs) this.startKeepalive(options.keepaliveIntervalMs, options.keepaliveCount ?? 5);
  }

  get defaultTimeoutMs(): number | undefined {
    return this.options.callTimeoutMs;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Calls listens for as long as the client lives. Returns an unsubscribe function. */
  onMessage(listener: MessageListener): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  onClose(listener: (error: ConnectionClosedError) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** Sends a CALL and resolves with the REPLY's body, or rejects with the daemon's LibvirtError. */
  call(target: CallTarget, args: Uint8Array, options: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const { serial, done } = this.begin(target, options.timeoutMs);
    this.send({ ...target, type: PacketType.CALL, serial, status: PacketStatus.OK }, args);
    return done;
  }

  /**
   * Runs a call whose reply opens an upload stream (storage_vol_upload): sends the call, then the data in
   * STREAM packets, then the end marker, and resolves once the daemon confirmed the end.
   */
  async upload(target: CallTarget, args: Uint8Array, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    if (this.closedWith) throw this.closedWith;
    // The daemon's answer to the stream (its end, or an error at any time) comes on the call's serial. Its
    // pending entry is put in place the moment the REPLY is dispatched, so an error that follows the REPLY
    // in the same chunk is not lost.
    let resolveFinish!: (body: Uint8Array) => void;
    let rejectFinish!: (error: Error) => void;
    const finish = new Promise<Uint8Array>((resolve, reject) => {
      resolveFinish = resolve;
      rejectFinish = reject;
    });
    finish.catch(() => {}); // awaited below; a mid-upload failure must not be an unhandled rejection
    const first = this.begin(target, this.options.callTimeoutMs, {
      target,
      resolve: resolveFinish,
      reject: rejectFinish,
    });
    this.send({ ...target, type: PacketType.CALL, serial: first.serial, status: PacketStatus.OK }, args);
    await first.done;
    const header = { ...target, type: PacketType.STREAM, serial: first.serial };
    for await (const chunk of data) {
      for (let at = 0; at < chunk.byteLength; at += STREAM_CHUNK_MAX) {
        const closed = this.closedWith as ConnectionClosedError | undefined; // may change while we await
        if (closed) {
          throw new ConnectionClosedError(`${target.name ?? target.procedure} failed: ${closed.message}`, {
            cause: closed,
          });
        }
        if (!this.pending.has(first.serial)) break; // the daemon already failed the stream
        await this.sendAndDrain(
          { ...header, status: PacketStatus.CONTINUE },
          chunk.subarray(at, at + STREAM_CHUNK_MAX),
        );
      }
    }
    if (this.pending.has(first.serial)) this.send({ ...header, status: PacketStatus.OK }, new Uint8Array(0));
    await finish;
  }

  /** Closes the connection; pending calls reject with ConnectionClosedError. */
  close(): void {
    this.shutdown(new ConnectionClosedError('the libvirt connection was closed by the client'));
    this.stream.destroy();
  }

  private begin(target: CallTarget, timeoutMs?: number, then?: Pending) {
    if (this.closedWith) {
      const error = this.closedWith;
      return { serial: -1, done: Promise.reject(error) };
    }
    const serial = this.nextSerial();
    const done = new Promise<Uint8Array>((resolve, reject) => {
      const entry: Pending = { target, resolve, reject, then };
      if (timeoutMs) {
        entry.timer = setTimeout(() => {
          this.pending.delete(serial);
          reject(new RpcTimeoutError(`${target.name ?? target.procedure} got no reply within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.pending.set(serial, entry);
    });
    return { serial, done };
  }

  private nextSerial(): number {
    this.serial = (this.serial + 1) >>> 0;
    while (this.pending.has(this.serial)) this.serial = (this.serial + 1) >>> 0;
    return this.serial;
  }

  private send(header: PacketHeader, body: Uint8Array): boolean {
    if (this.closedWith) throw this.closedWith;
    return this.stream.write(encodePacket(header, body));
  }

  private async sendAndDrain(header: PacketHeader, body: Uint8Array): Promise<void> {
    if (this.send(header, body)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('close', done);
    });
  }

  private onData(chunk: Buffer): void {
    let packets: Packet[];
    try {
      packets = this.framer.push(chunk);
    } catch (error) {
      // A corrupt stream cannot be resynchronised: fail everything and drop the connection.
      this.shutdown(new ConnectionClosedError(`libvirt protocol error: ${(error as Error).message}`, { cause: error }));
      this.stream.destroy();
      return;
    }
    this.unansweredPings = 0;
    for (const packet of packets) {
      if (this.closedWith) return; // a packet before this one poisoned the connection
      this.dispatch(packet);
    }
  }

  private dispatch({ header, body }: Packet): void {
    if (header.program === KEEPALIVE_PROGRAM) {
      if (header.procedure === KeepaliveProcedure.KEEPALIVE_PROC_PING) {
        this.send(
          {
            program: KEEPALIVE_PROGRAM,
            version: KEEPALIVE_PROTOCOL_VERSION,
            procedure: KeepaliveProcedure.KEEPALIVE_PROC_PONG,
            type: PacketType.MESSAGE,
            serial: 0,
            status: PacketStatus.OK,
          },
          new Uint8Array(0),
        );
      }
      return;
    }
    if (header.type === PacketType.MESSAGE) {
      for (const listener of this.messageListeners) listener(header, body);
      return;
    }
    if (header.type !== PacketType.REPLY && header.type !== PacketType.STREAM) return;
    const entry = this.pending.get(header.serial);
    if (!entry) return; // a late reply to a call that timed out
    if (!answersCall(header, entry.target)) {
      this.rejectMismatchedReply(header, entry);
      return;
    }
    if (header.type === PacketType.STREAM && header.status === PacketStatus.CONTINUE) return; // download data: unused
    this.pending.delete(header.serial);
    if (entry.timer) clearTimeout(entry.timer);
    if (header.status === PacketStatus.ERROR) {
      const error = decodeRemoteError(body, entry.target.name);
      entry.reject(error);
      entry.then?.reject(error);
      return;
    }
    if (entry.then) this.pending.set(header.serial, entry.then);
    entry.resolve(body);
  }

  /**
   * A reply on a call's serial that names another program, version or procedure. The call fails with a
   * ProtocolError, and so does the connection: a daemon that mixes up its replies (or a peer that is not
   * libvirtd) cannot be trusted to match the next ones either, and a body decoded as the wrong procedure's
   * answer would be wrong data rather than an error. The next call dials afresh.
   */
  private rejectMismatchedReply(header: PacketHeader, entry: Pending): void {
    this.pending.delete(header.serial);
    if (entry.timer) clearTimeout(entry.timer);
    const error = new ProtocolError(
      `${entry.target.name ?? `procedure ${entry.target.procedure}`} failed: the reply on serial ${header.serial} ` +
        `is for ${describeTarget(header)}, not ${describeTarget(entry.target)}`,
    );
    entry.reject(error);
    entry.then?.reject(error);
    this.shutdown(new ConnectionClosedError(`libvirt protocol error: ${error.message}`, { cause: error }));
    this.stream.destroy();
  }

  private startKeepalive(intervalMs: number, count: number): void {
    this.keepaliveTimer = setInterval(() => {
      if (this.unansweredPings >= count) {
        this.shutdown(new ConnectionClosedError(`libvirtd did not answer ${count} keepalive pings`));
        this.stream.destroy();
        return;
      }
      this.unansweredPings++;
      try {
        this.send(
          {
            program: KEEPALIVE_PROGRAM,
            version: KEEPALIVE_PROTOCOL_VERSION,
            procedure: KeepaliveProcedure.KEEPALIVE_PROC_PING,
            type: PacketType.MESSAGE,
            serial: 0,
            status: PacketStatus.OK,
          },
          new Uint8Array(0),
        );
      } catch {
        // closed: shutdown already ran
      }
    }, intervalMs);
    this.keepaliveTimer.unref();
  }

  private shutdown(error: ConnectionClosedError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    for (const [serial, entry] of this.pending) {
      this.pending.delete(serial);
      if (entry.timer) clearTimeout(entry.timer);
      entry.reject(
        new ConnectionClosedError(
          `${entry.target.name ?? `procedure ${entry.target.procedure}`} failed: ${error.message}`,
          {
            cause: error,
          },
        ),
      );
    }
    for (const listener of this.closeListeners) listener(error);
  }
}

/** Whether a REPLY or STREAM packet belongs to the call it shares a serial with. */
function answersCall(header: PacketHeader, call: CallTarget): boolean {
  return header.program === call.program && header.version === call.version && header.procedure === call.procedure;
}

function describeTarget({ program, version, procedure }: Omit<CallTarget, 'name'>): string {
  return `program 0x${program.toString(16)} version ${version} procedure ${procedure}`;
}

/** Decodes remote_error; an undecodable error body is itself a ProtocolError. */
export function decodeRemoteError(body: Uint8Array, procedure?: string): LibvirtError | ProtocolError {
  try {
    const error = decode(remote_error, body);
    return new LibvirtError({ ...error, procedure });
  } catch (cause) {
    if (cause instanceof XdrError) return new ProtocolError(`undecodable libvirt error: ${cause.message}`, { cause });
    throw cause;
  }
}
