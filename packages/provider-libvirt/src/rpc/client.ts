import type { Duplex } from 'node:stream';
import { KEEPALIVE_PROGRAM, KEEPALIVE_PROTOCOL_VERSION, KeepaliveProcedure } from '../protocol/keepalive.generated.js';
import { remote_error } from '../protocol/remote.generated.js';
import { decode, XdrError } from '../xdr/index.js';
import { abortedError } from './abort.js';
import { ConnectionClosedError, LibvirtError, ProtocolError, RpcTimeoutError, WriteQueueFullError } from './errors.js';
import {
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_COUNT,
  DEFAULT_KEEPALIVE_INTERVAL_MS,
  DEFAULT_MAX_WRITE_QUEUE_BYTES,
  type RpcCallOptions,
  SLOW_CALL_TIMEOUT_MS,
} from './limits.js';
import {
  encodePacket,
  PACKET_HEADER_SIZE,
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
  /** Clears the call's deadline timer and abort listener. */
  release(): void;
  /** What waits on the same serial after a successful REPLY (an upload stream's end). */
  then?: Pending;
}

export interface RpcClientOptions {
  /** Deadline of a call that names none, in ms; 0 means none. Default 30 s (DEFAULT_CALL_TIMEOUT_MS). */
  callTimeoutMs?: number;
  /** Deadline of the calls known to be slow (SLOW_PROCEDURES) and of an upload's end. Default 120 s. */
  slowCallTimeoutMs?: number;
  /**
   * A keepalive PING this often (default 5 s; 0 turns keepalive off); the connection closes after
   * `keepaliveCount` (default 5) intervals in which the daemon sent nothing at all.
   */
  keepaliveIntervalMs?: number;
  keepaliveCount?: number;
  /** The connection closes with WriteQueueFullError once more than this waits to be sent. Default 4 MiB. */
  maxWriteQueueBytes?: number;
}

/** An asynchronous message from the daemon (events), before its body is decoded. */
export type MessageListener = (header: PacketHeader, body: Uint8Array) => void;

/**
 * libvirt's RPC over one byte stream: calls multiplexed by serial, replies matched back, daemon messages
 * (events) and keepalive handled, streams sent. Every call has a deadline and can be aborted. When the stream
 * ends, every pending call rejects with a ConnectionClosedError and later calls reject at once.
 */
export class RpcClient {
  readonly callTimeoutMs: number;
  readonly slowCallTimeoutMs: number;
  private readonly maxWriteQueueBytes: number;
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly framer = new PacketFramer();
  private readonly messageListeners = new Set<MessageListener>();
  private readonly closeListeners = new Set<(error: ConnectionClosedError) => void>();
  private closedWith?: ConnectionClosedError;
  private keepaliveTimer?: NodeJS.Timeout;
  private silentIntervals = 0;
  /**
   * PONGs not queued because the peer had not read what we sent already (one waiting answer proves we are
   * alive as well as many): their bytes count against `maxWriteQueueBytes`, and one PONG goes out on drain.
   */
  private owedPongBytes = 0;

  constructor(
    private readonly stream: Duplex,
    options: RpcClientOptions = {},
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.slowCallTimeoutMs = options.slowCallTimeoutMs ?? SLOW_CALL_TIMEOUT_MS;
    this.maxWriteQueueBytes = options.maxWriteQueueBytes ?? DEFAULT_MAX_WRITE_QUEUE_BYTES;
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (error) =>
      this.shutdown(new ConnectionClosedError(`libvirt connection failed: ${error.message}`, { cause: error })),
    );
    stream.on('close', () => this.shutdown(new ConnectionClosedError('libvirtd closed the connection')));
    stream.on('end', () => this.shutdown(new ConnectionClosedError('libvirtd closed the connection')));
    const keepaliveIntervalMs = options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS;
    if (keepaliveIntervalMs > 0) {
      this.startKeepalive(keepaliveIntervalMs, options.keepaliveCount ?? DEFAULT_KEEPALIVE_COUNT);
    }
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Bytes waiting to be sent, and owed keepalive answers: what `maxWriteQueueBytes` bounds. */
  get queuedBytes(): number {
    return this.stream.writableLength + this.owedPongBytes;
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

  /**
   * Sends a CALL and resolves with the REPLY's body, or rejects with the daemon's LibvirtError; with
   * RpcTimeoutError after `timeoutMs` (default `callTimeoutMs`), with RpcAbortedError when `signal` aborts.
   */
  call(target: CallTarget, args: Uint8Array, options: RpcCallOptions = {}): Promise<Uint8Array> {
    const { serial, done } = this.begin(target, { ...options, timeoutMs: options.timeoutMs ?? this.callTimeoutMs });
    // A write that finds the queue full closes the connection, which has rejected `done` already.
    if (serial >= 0) this.write({ ...target, type: PacketType.CALL, serial, status: PacketStatus.OK }, args);
    return done;
  }

  /**
   * Runs a call whose reply opens an upload stream (storage_vol_upload): sends the call, then the data in
   * STREAM packets, then the end marker, and resolves once the daemon confirmed the end. The call's reply has
   * `timeoutMs` (default `callTimeoutMs`); each chunk must be taken by the daemon within `callTimeoutMs`; the
   * confirmation of the end has `slowCallTimeoutMs`. A stream cut off half-way (deadline, abort) cannot be
   * resumed, so it closes the connection; the next call dials afresh.
   */
  async upload(
    target: CallTarget,
    args: Uint8Array,
    data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: RpcCallOptions = {},
  ): Promise<void> {
    if (this.closedWith) throw this.closedWith;
    const name = describeCall(target);
    // The daemon's answer to the stream (its end, or an error at any time) comes on the call's serial. Its
    // pending entry is put in place the moment the REPLY is dispatched, so an error that follows the REPLY
    // in the same chunk is not lost.
    let finishEntry!: Pending;
    const finish = new Promise<Uint8Array>((resolve, reject) => {
      finishEntry = { target, resolve, reject, release: () => {} };
    });
    finish.catch(() => {}); // awaited below; a mid-upload failure must not be an unhandled rejection
    const first = this.begin(target, { ...options, timeoutMs: options.timeoutMs ?? this.callTimeoutMs }, finishEntry);
    if (first.serial < 0) return void (await first.done);
    this.write({ ...target, type: PacketType.CALL, serial: first.serial, status: PacketStatus.OK }, args);
    try {
      await first.done;
      const header = { ...target, type: PacketType.STREAM, serial: first.serial };
      for await (const chunk of data) {
        for (let at = 0; at < chunk.byteLength; at += STREAM_CHUNK_MAX) {
          this.throwIfUnusable(name, options.signal);
          if (!this.pending.has(first.serial)) break; // the daemon already failed the stream
          this.write({ ...header, status: PacketStatus.CONTINUE }, chunk.subarray(at, at + STREAM_CHUNK_MAX));
          await this.drained(name, options.signal);
        }
      }
      this.throwIfUnusable(name, options.signal);
      if (this.pending.has(first.serial)) {
        finishEntry.release = this.arm(first.serial, { timeoutMs: this.slowCallTimeoutMs, signal: options.signal });
        this.write({ ...header, status: PacketStatus.OK }, new Uint8Array(0));
      }
      await finish;
    } catch (error) {
      if (!(error instanceof LibvirtError)) {
        this.fail(new ConnectionClosedError(`${name} was cut off: ${(error as Error).message}`, { cause: error }));
      }
      throw error;
    }
  }

  /** Closes the connection; pending calls reject with ConnectionClosedError. */
  close(): void {
    this.fail(new ConnectionClosedError('the libvirt connection was closed by the client'));
  }

  private begin(target: CallTarget, options: RpcCallOptions, then?: Pending) {
    if (this.closedWith) return { serial: -1, done: Promise.reject(this.closedWith) };
    if (options.signal?.aborted) {
      return { serial: -1, done: Promise.reject(abortedError(options.signal, describeCall(target))) };
    }
    const serial = this.nextSerial();
    const done = new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(serial, { target, resolve, reject, release: () => {}, then });
    });
    const entry = this.pending.get(serial);
    if (entry) entry.release = this.arm(serial, options);
    return { serial, done };
  }

  /** Starts a pending call's deadline and abort listener; returns what stops them. */
  private arm(serial: number, { timeoutMs, signal }: RpcCallOptions): () => void {
    const name = describeCall(this.pending.get(serial)?.target);
    const timer = timeoutMs
      ? setTimeout(
          () => this.abandon(serial, new RpcTimeoutError(`${name} got no reply within ${timeoutMs} ms`)),
          timeoutMs,
        )
      : undefined;
    const onAbort = () => signal && this.abandon(serial, abortedError(signal, name));
    signal?.addEventListener('abort', onAbort, { once: true });
    return () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
  }

  /** Gives up on a pending call; its reply, if it still comes, is dropped like any late reply. */
  private abandon(serial: number, error: Error): void {
    const entry = this.pending.get(serial);
    if (!entry) return;
    this.pending.delete(serial);
    entry.release();
    entry.reject(error);
    entry.then?.reject(error);
  }

  private nextSerial(): number {
    this.serial = (this.serial + 1) >>> 0;
    while (this.pending.has(this.serial)) this.serial = (this.serial + 1) >>> 0;
    return this.serial;
  }

  /**
   * Queues a packet. A peer that stops reading must not make the queue grow without bound (a daemon flooding
   * keepalive pings would otherwise fill memory with our answers): past `maxWriteQueueBytes` the connection
   * closes with WriteQueueFullError. False when the packet was not queued (the connection is closed).
   */
  private write(header: PacketHeader, body: Uint8Array): boolean {
    if (this.closedWith) return false;
    const queued = this.queuedBytes;
    if (queued >= this.maxWriteQueueBytes) {
      this.fail(new WriteQueueFullError(queued, this.maxWriteQueueBytes));
      return false;
    }
    this.stream.write(encodePacket(header, body));
    return true;
  }

  /** Answers a PING, or owes the answer while the peer is not reading (see `owedPongBytes`). */
  private answerPing(): void {
    if (this.stream.writableLength === 0) {
      this.writeKeepalive(KeepaliveProcedure.KEEPALIVE_PROC_PONG);
      return;
    }
    if (this.owedPongBytes === 0) this.stream.once('drain', () => this.payOwedPong());
    this.owedPongBytes += PACKET_HEADER_SIZE;
    if (this.queuedBytes >= this.maxWriteQueueBytes) {
      this.fail(new WriteQueueFullError(this.queuedBytes, this.maxWriteQueueBytes));
    }
  }

  private payOwedPong(): void {
    if (this.owedPongBytes === 0 || this.closedWith) return;
    this.owedPongBytes = 0;
    this.writeKeepalive(KeepaliveProcedure.KEEPALIVE_PROC_PONG);
  }

  private throwIfUnusable(name: string, signal?: AbortSignal): void {
    if (signal?.aborted) throw abortedError(signal, name);
    const closed = this.closedWith;
    if (closed) throw new ConnectionClosedError(`${name} failed: ${closed.message}`, { cause: closed });
  }

  /** Waits until the stream takes more data, for at most `callTimeoutMs`, or until `signal` aborts. */
  private drained(name: string, signal?: AbortSignal): Promise<void> {
    if (!this.stream.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        this.stream.off('drain', onDone);
        this.stream.off('close', onDone);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const onDone = () => settle();
      const onAbort = () => settle(abortedError(signal as AbortSignal, name));
      const timer = setTimeout(
        () => settle(new RpcTimeoutError(`${name}: libvirtd took no stream data for ${this.callTimeoutMs} ms`)),
        this.callTimeoutMs || 2 ** 31 - 1,
      );
      this.stream.on('drain', onDone);
      this.stream.on('close', onDone);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private onData(chunk: Buffer): void {
    let packets: Packet[];
    try {
      packets = this.framer.push(chunk);
    } catch (error) {
      // A corrupt stream cannot be resynchronised: fail everything and drop the connection.
      this.fail(new ConnectionClosedError(`libvirt protocol error: ${(error as Error).message}`, { cause: error }));
      return;
    }
    this.silentIntervals = 0;
    for (const packet of packets) {
      if (this.closedWith) return; // a packet before this one poisoned the connection
      this.dispatch(packet);
    }
  }

  private dispatch({ header, body }: Packet): void {
    if (header.program === KEEPALIVE_PROGRAM) {
      if (header.procedure === KeepaliveProcedure.KEEPALIVE_PROC_PING) this.answerPing();
      return;
    }
    if (header.type === PacketType.MESSAGE) {
      for (const listener of this.messageListeners) listener(header, body);
      return;
    }
    if (header.type !== PacketType.REPLY && header.type !== PacketType.STREAM) return;
    const entry = this.pending.get(header.serial);
    if (!entry) return; // a late reply to a call that timed out or was aborted
    if (!answersCall(header, entry.target)) {
      this.rejectMismatchedReply(header, entry);
      return;
    }
    if (header.type === PacketType.STREAM && header.status === PacketStatus.CONTINUE) return; // download data: unused
    this.pending.delete(header.serial);
    entry.release();
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
    const error = new ProtocolError(
      `${describeCall(entry.target)} failed: the reply on serial ${header.serial} ` +
        `is for ${describeTarget(header)}, not ${describeTarget(entry.target)}`,
    );
    this.abandon(header.serial, error);
    this.fail(new ConnectionClosedError(`libvirt protocol error: ${error.message}`, { cause: error }));
  }

  private writeKeepalive(procedure: KeepaliveProcedure): void {
    this.write(
      {
        program: KEEPALIVE_PROGRAM,
        version: KEEPALIVE_PROTOCOL_VERSION,
        procedure,
        type: PacketType.MESSAGE,
        serial: 0,
        status: PacketStatus.OK,
      },
      EMPTY,
    );
  }

  /** Pings every interval; a daemon that sent nothing at all for `count` intervals is gone or hung. */
  private startKeepalive(intervalMs: number, count: number): void {
    this.keepaliveTimer = setInterval(() => {
      if (this.silentIntervals >= count) {
        this.fail(new ConnectionClosedError(`libvirtd did not answer ${count} keepalive pings`));
        return;
      }
      this.silentIntervals++;
      this.writeKeepalive(KeepaliveProcedure.KEEPALIVE_PROC_PING);
    }, intervalMs);
    this.keepaliveTimer.unref();
  }

  /** Ends the connection for good: calls in flight reject, the stream is destroyed. */
  private fail(error: ConnectionClosedError): void {
    this.shutdown(error);
    this.stream.destroy();
  }

  private shutdown(error: ConnectionClosedError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    for (const serial of [...this.pending.keys()]) {
      const name = describeCall(this.pending.get(serial)?.target);
      this.abandon(serial, new ConnectionClosedError(`${name} failed: ${error.message}`, { cause: error }));
    }
    for (const listener of this.closeListeners) listener(error);
  }
}

const EMPTY = new Uint8Array(0);

function describeCall(target: CallTarget | undefined): string {
  return target?.name ?? `procedure ${target?.procedure}`;
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
