/**
 * What the embedded broker bounds below MQTT, before aedes buffers a byte of a connection:
 *   - a TCP connection must finish its TLS handshake in `handshakeTimeoutMs` (node's TLS server reports the
 *     timeout but leaves the socket open; the broker destroys it);
 *   - each source address may hold at most `maxPendingPerSource` connections that have not authenticated yet
 *     (QEMU user networking makes every libvirt guest come from 127.0.0.1, so keep this above a fleet's
 *     reconnect burst on one host);
 *   - an MQTT packet may announce at most `maxPacketBytes` (read from its fixed header, so a 256 MiB publish
 *     is refused at its first bytes) and must arrive whole within `packetTimeoutMs` of its first byte.
 */
import type { Socket } from 'node:net';
import { MAX_PACKET_BYTES } from './envelope.js';

export interface ConnectionLimits {
  handshakeTimeoutMs: number;
  maxPendingPerSource: number;
  maxPacketBytes: number;
  packetTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  handshakeTimeoutMs: 10_000,
  maxPendingPerSource: 256,
  maxPacketBytes: MAX_PACKET_BYTES,
  packetTimeoutMs: 30_000,
};

const key = (address: string | undefined, port: number | undefined) => `${address}|${port}`;

/** Connections per source address that have not authenticated yet. */
export class PendingConnections {
  readonly #bySource = new Map<string, number>();
  /** address|port of each pending connection → its source address. */
  readonly #pending = new Map<string, string>();

  constructor(private readonly maxPerSource: number) {}

  /** Counts a new TCP connection; false when its source already holds the most allowed. */
  admit(socket: Socket): boolean {
    const source = socket.remoteAddress ?? 'unknown';
    const count = this.#bySource.get(source) ?? 0;
    if (count >= this.maxPerSource) return false;
    const id = key(socket.remoteAddress, socket.remotePort);
    this.#bySource.set(source, count + 1);
    this.#pending.set(id, source);
    socket.once('close', () => this.#release(id));
    return true;
  }

  /** The connection from this address and port authenticated: it no longer counts. */
  authenticated(address: string | undefined, port: number | undefined): void {
    this.#release(key(address, port));
  }

  #release(id: string): void {
    const source = this.#pending.get(id);
    if (source === undefined) return;
    this.#pending.delete(id);
    const count = (this.#bySource.get(source) ?? 1) - 1;
    if (count <= 0) this.#bySource.delete(source);
    else this.#bySource.set(source, count);
  }
}

/**
 * Follows MQTT packet boundaries in a byte stream (fixed header byte, remaining length as 1-4 varint bytes,
 * body) without keeping any of it.
 */
export class PacketFramer {
  #state: 'header' | 'length' | 'body' = 'header';
  #length = 0;
  #multiplier = 1;
  #remaining = 0;
  #completed = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** Packets seen whole so far. */
  get completed(): number {
    return this.#completed;
  }

  /** True while a packet has begun and not ended. */
  get partial(): boolean {
    return this.#state !== 'header';
  }

  /** Feeds bytes; returns why the stream must end, or undefined. */
  push(chunk: Uint8Array): string | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === 'header') {
        i++;
        this.#state = 'length';
        this.#length = 0;
        this.#multiplier = 1;
      } else if (this.#state === 'length') {
        const byte = chunk[i++] ?? 0;
        this.#length += (byte & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        if (byte & 0x80) {
          if (this.#multiplier > 128 ** 4) return 'malformed remaining length';
          continue;
        }
        if (this.#length > this.maxPacketBytes) {
          return `packet of ${this.#length} bytes exceeds ${this.maxPacketBytes}`;
        }
        this.#remaining = this.#length;
        this.#state = this.#remaining === 0 ? 'header' : 'body';
        if (this.#remaining === 0) this.#completed++;
      } else {
        const take = Math.min(this.#remaining, chunk.length - i);
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) {
          this.#state = 'header';
          this.#completed++;
        }
      }
    }
    return undefined;
  }
}

/**
 * Watches what a client sends (alongside aedes, which reads the same socket with `read()`; a 'data' listener
 * then only observes) and destroys the socket when a packet is too large or takes too long to arrive.
 */
export function guardPackets(
  socket: Socket,
  limits: Pick<ConnectionLimits, 'maxPacketBytes' | 'packetTimeoutMs'>,
  onViolation: (reason: string) => void,
): void {
  const framer = new PacketFramer(limits.maxPacketBytes);
  let timer: NodeJS.Timeout | undefined;
  const end = (reason: string) => {
    clearTimeout(timer);
    onViolation(reason);
    socket.destroy();
  };
  socket.on('data', (chunk: Buffer) => {
    const wasPartial = framer.partial;
    const completedBefore = framer.completed;
    const violation = framer.push(chunk);
    if (violation !== undefined) return end(violation);
    // The clock runs from the first byte of a packet: it stops when the packet ends, and starts again for the
    // next packet left partial.
    if (!framer.partial) {
      clearTimeout(timer);
      timer = undefined;
    } else if (!wasPartial || framer.completed !== completedBefore) {
      clearTimeout(timer);
      timer = setTimeout(
        () => end(`a packet took longer than ${limits.packetTimeoutMs} ms to arrive`),
        limits.packetTimeoutMs,
      );
    }
  });
  socket.once('close', () => clearTimeout(timer));
}
