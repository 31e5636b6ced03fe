import { XdrError, XdrReader, XdrWriter } from '../xdr/index.js';
import { ProtocolError } from './errors.js';

/** virNetMessageType: what a packet is. */
export const PacketType = {
  CALL: 0,
  REPLY: 1,
  MESSAGE: 2,
  STREAM: 3,
  CALL_WITH_FDS: 4,
  REPLY_WITH_FDS: 5,
  STREAM_HOLE: 6,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** virNetMessageStatus. */
export const PacketStatus = { OK: 0, ERROR: 1, CONTINUE: 2 } as const;
export type PacketStatus = (typeof PacketStatus)[keyof typeof PacketStatus];

export interface PacketHeader {
  program: number;
  version: number;
  procedure: number;
  type: PacketType;
  serial: number;
  status: PacketStatus;
}

export interface Packet {
  header: PacketHeader;
  body: Uint8Array;
}

/** The length word plus the six header words. */
export const PACKET_HEADER_SIZE = 28;
/** VIR_NET_MESSAGE_MAX: libvirt refuses anything larger, so do we. */
export const PACKET_MAX = 33554432;
/** VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX: how much stream data one packet carries. */
export const STREAM_CHUNK_MAX = 262120;

const packetTypes = new Set<number>(Object.values(PacketType));
const packetStatuses = new Set<number>(Object.values(PacketStatus));

export function encodePacket(header: PacketHeader, body: Uint8Array): Uint8Array {
  const writer = new XdrWriter(PACKET_HEADER_SIZE + body.byteLength);
  writer.uint(0);
  writer.uint(header.program);
  writer.uint(header.version);
  writer.int(header.procedure);
  writer.int(header.type);
  writer.uint(header.serial);
  writer.int(header.status);
  writer.raw(body);
  writer.patchUint(0, writer.length);
  return writer.toBytes();
}

/** Decodes one complete packet (length word included). Malformed input is a ProtocolError. */
export function decodePacket(bytes: Uint8Array): Packet {
  try {
    const reader = new XdrReader(bytes);
    const length = reader.uint();
    if (length !== bytes.byteLength) throw new ProtocolError(`packet length ${length} != ${bytes.byteLength} bytes`);
    const header: PacketHeader = {
      program: reader.uint(),
      version: reader.uint(),
      procedure: reader.int(),
      type: reader.int() as PacketType,
      serial: reader.uint(),
      status: reader.int() as PacketStatus,
    };
    if (!packetTypes.has(header.type)) throw new ProtocolError(`unknown packet type ${header.type}`);
    if (!packetStatuses.has(header.status)) throw new ProtocolError(`unknown packet status ${header.status}`);
    return { header, body: reader.rest() };
  } catch (error) {
    if (error instanceof XdrError) throw new ProtocolError(`malformed packet: ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * Cuts a byte stream into packets. Rejects a length word outside [28, PACKET_MAX] at once, so a corrupt or
 * hostile stream can neither make it buffer without bound nor stall waiting for bytes that never come.
 */
export class PacketFramer {
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  push(chunk: Uint8Array): Packet[] {
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    const packets: Packet[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const length = new DataView(head.buffer, head.byteOffset, 4).getUint32(0);
      if (length < PACKET_HEADER_SIZE || length > PACKET_MAX) {
        throw new ProtocolError(`invalid packet length ${length}`);
      }
      if (this.buffered < length) break;
      packets.push(decodePacket(this.take(length)));
    }
    return packets;
  }

  private peek(bytes: number): Uint8Array {
    const first = this.chunks[0]!;
    if (first.byteLength >= bytes) return first.subarray(0, bytes);
    this.chunks = [concat(this.chunks, this.buffered)];
    return this.chunks[0]!.subarray(0, bytes);
  }

  private take(bytes: number): Uint8Array {
    const all = this.chunks.length === 1 ? this.chunks[0]! : concat(this.chunks, this.buffered);
    const packet = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.chunks = rest.byteLength > 0 ? [rest] : [];
    this.buffered = rest.byteLength;
    return packet;
  }
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
