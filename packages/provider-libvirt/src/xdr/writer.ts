import { XdrError } from './errors.js';

const utf8 = new TextEncoder();

/** Writes XDR (RFC 4506) into a growing buffer. */
export class XdrWriter {
  private buffer: Uint8Array;
  private view: DataView;
  private offset = 0;

  constructor(initialSize = 256) {
    this.buffer = new Uint8Array(initialSize);
    this.view = new DataView(this.buffer.buffer);
  }

  get length(): number {
    return this.offset;
  }

  private ensure(bytes: number): void {
    if (this.offset + bytes <= this.buffer.byteLength) return;
    let size = this.buffer.byteLength * 2;
    while (size < this.offset + bytes) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.offset));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }

  int(value: number): void {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
      throw new XdrError('OUT_OF_RANGE', `${value} is not a 32-bit int`);
    }
    this.ensure(4);
    this.view.setInt32(this.offset, value);
    this.offset += 4;
  }

  uint(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new XdrError('OUT_OF_RANGE', `${value} is not a 32-bit unsigned int`);
    }
    this.ensure(4);
    this.view.setUint32(this.offset, value);
    this.offset += 4;
  }

  hyper(value: bigint): void {
    if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new XdrError('OUT_OF_RANGE', `${value} is not a hyper`);
    this.ensure(8);
    this.view.setBigInt64(this.offset, value);
    this.offset += 8;
  }

  uhyper(value: bigint): void {
    if (value < 0n || value >= 2n ** 64n) throw new XdrError('OUT_OF_RANGE', `${value} is not an unsigned hyper`);
    this.ensure(8);
    this.view.setBigUint64(this.offset, value);
    this.offset += 8;
  }

  float(value: number): void {
    this.ensure(4);
    this.view.setFloat32(this.offset, value);
    this.offset += 4;
  }

  double(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.offset, value);
    this.offset += 8;
  }

  bool(value: boolean): void {
    this.int(value ? 1 : 0);
  }

  fixedOpaque(bytes: Uint8Array, length: number): void {
    if (bytes.byteLength !== length) {
      throw new XdrError('OUT_OF_RANGE', `fixed opaque needs ${length} bytes, got ${bytes.byteLength}`);
    }
    this.raw(bytes);
    const pad = (4 - (length % 4)) % 4;
    this.ensure(pad);
    this.buffer.fill(0, this.offset, this.offset + pad);
    this.offset += pad;
  }

  opaque(bytes: Uint8Array, max: number): void {
    if (bytes.byteLength > max)
      throw new XdrError('LIMIT_EXCEEDED', `opaque of ${bytes.byteLength} bytes exceeds ${max}`);
    this.uint(bytes.byteLength);
    this.fixedOpaque(bytes, bytes.byteLength);
  }

  string(value: string, max: number): void {
    const bytes = utf8.encode(value);
    if (bytes.byteLength > max)
      throw new XdrError('LIMIT_EXCEEDED', `string of ${bytes.byteLength} bytes exceeds ${max}`);
    this.uint(bytes.byteLength);
    this.fixedOpaque(bytes, bytes.byteLength);
  }

  /** Appends bytes without a length or padding (stream payloads). */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.byteLength);
    this.buffer.set(bytes, this.offset);
    this.offset += bytes.byteLength;
  }

  /** Overwrites an unsigned int already written (the packet length, once known). */
  patchUint(at: number, value: number): void {
    this.view.setUint32(at, value);
  }

  toBytes(): Uint8Array {
    return this.buffer.subarray(0, this.offset);
  }
}
