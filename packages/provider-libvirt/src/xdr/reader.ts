import { XdrError } from './errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads XDR (RFC 4506) from one buffer. Every read checks the remaining length first, so malformed or
 * truncated input ends in an XdrError rather than an out-of-bounds read, a huge allocation or a loop.
 */
export class XdrReader {
  private offset: number;
  private readonly view: DataView;

  constructor(
    readonly buffer: Uint8Array,
    offset = 0,
  ) {
    this.offset = offset;
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.buffer.byteLength - this.offset;
  }

  private need(bytes: number, what: string): void {
    if (bytes > this.remaining) {
      throw new XdrError(
        'TRUNCATED',
        `truncated XDR: ${what} needs ${bytes} bytes at offset ${this.offset}, ${this.remaining} left`,
      );
    }
  }

  int(): number {
    this.need(4, 'int');
    const value = this.view.getInt32(this.offset);
    this.offset += 4;
    return value;
  }

  uint(): number {
    this.need(4, 'unsigned int');
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  hyper(): bigint {
    this.need(8, 'hyper');
    const value = this.view.getBigInt64(this.offset);
    this.offset += 8;
    return value;
  }

  uhyper(): bigint {
    this.need(8, 'unsigned hyper');
    const value = this.view.getBigUint64(this.offset);
    this.offset += 8;
    return value;
  }

  float(): number {
    this.need(4, 'float');
    const value = this.view.getFloat32(this.offset);
    this.offset += 4;
    return value;
  }

  double(): number {
    this.need(8, 'double');
    const value = this.view.getFloat64(this.offset);
    this.offset += 8;
    return value;
  }

  bool(): boolean {
    const value = this.int();
    if (value !== 0 && value !== 1) throw new XdrError('INVALID_BOOL', `invalid XDR bool ${value}`);
    return value === 1;
  }

  /** A length prefix for variable data, checked against the declared maximum and what is left. */
  length(max: number, what: string, unitSize = 1): number {
    const length = this.uint();
    if (length > max) throw new XdrError('LIMIT_EXCEEDED', `${what} length ${length} exceeds its maximum ${max}`);
    // Each element needs at least `unitSize` bytes: this catches absurd counts before allocating arrays.
    this.need(length * unitSize, what);
    return length;
  }

  fixedOpaque(length: number): Uint8Array {
    const padded = (length + 3) & ~3;
    this.need(padded, 'opaque');
    const value = this.buffer.slice(this.offset, this.offset + length);
    this.offset += padded;
    return value;
  }

  opaque(max: number): Uint8Array {
    return this.fixedOpaque(this.length(max, 'opaque'));
  }

  string(max: number): string {
    const bytes = this.fixedOpaque(this.length(max, 'string'));
    try {
      return utf8.decode(bytes);
    } catch {
      throw new XdrError('INVALID_UTF8', 'XDR string is not valid UTF-8');
    }
  }

  /** Takes the rest of the buffer unparsed (stream payloads). */
  rest(): Uint8Array {
    const value = this.buffer.subarray(this.offset);
    this.offset = this.buffer.byteLength;
    return value;
  }

  expectEnd(): void {
    if (this.remaining !== 0)
      throw new XdrError('TRAILING_BYTES', `${this.remaining} unexpected bytes after XDR value`);
  }
}
