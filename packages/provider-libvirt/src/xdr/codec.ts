import { XdrError } from './errors.js';
import { XdrReader } from './reader.js';
import { XdrWriter } from './writer.js';

/** Encodes and decodes one XDR type. Generated protocol code composes these. */
export interface Codec<T> {
  encode(writer: XdrWriter, value: T): void;
  decode(reader: XdrReader): T;
}

export type CodecType<C> = C extends Codec<infer T> ? T : never;

export const int: Codec<number> = { encode: (w, v) => w.int(v), decode: (r) => r.int() };
export const uint: Codec<number> = { encode: (w, v) => w.uint(v), decode: (r) => r.uint() };
export const hyper: Codec<bigint> = { encode: (w, v) => w.hyper(v), decode: (r) => r.hyper() };
export const uhyper: Codec<bigint> = { encode: (w, v) => w.uhyper(v), decode: (r) => r.uhyper() };
export const float: Codec<number> = { encode: (w, v) => w.float(v), decode: (r) => r.float() };
export const double: Codec<number> = { encode: (w, v) => w.double(v), decode: (r) => r.double() };
export const bool: Codec<boolean> = { encode: (w, v) => w.bool(v), decode: (r) => r.bool() };
export const none: Codec<undefined> = { encode: () => {}, decode: () => undefined };

export function string(max = 0xffffffff): Codec<string> {
  return { encode: (w, v) => w.string(v, max), decode: (r) => r.string(max) };
}

export function opaque(max = 0xffffffff): Codec<Uint8Array> {
  return { encode: (w, v) => w.opaque(v, max), decode: (r) => r.opaque(max) };
}

export function fixedOpaque(length: number): Codec<Uint8Array> {
  return { encode: (w, v) => w.fixedOpaque(v, length), decode: (r) => r.fixedOpaque(length) };
}

/** A variable-length array `T name<max>`. */
export function array<T>(item: Codec<T>, max = 0xffffffff): Codec<T[]> {
  return {
    encode(w, values) {
      if (values.length > max) throw new XdrError('LIMIT_EXCEEDED', `array of ${values.length} exceeds ${max}`);
      w.uint(values.length);
      for (const value of values) item.encode(w, value);
    },
    decode(r) {
      // Every XDR item takes at least 4 bytes, so a count larger than remaining/4 is a lie: reject it early.
      const count = r.length(max, 'array', 4);
      const values: T[] = new Array(count);
      for (let i = 0; i < count; i++) values[i] = item.decode(r);
      return values;
    },
  };
}

/** A fixed-length array `T name[length]`. */
export function fixedArray<T>(item: Codec<T>, length: number): Codec<T[]> {
  return {
    encode(w, values) {
      if (values.length !== length) throw new XdrError('OUT_OF_RANGE', `fixed array needs ${length} items`);
      for (const value of values) item.encode(w, value);
    },
    decode(r) {
      if (length * 4 > r.remaining) throw new XdrError('TRUNCATED', `truncated XDR: fixed array of ${length}`);
      const values: T[] = new Array(length);
      for (let i = 0; i < length; i++) values[i] = item.decode(r);
      return values;
    },
  };
}

/** `T *name`: XDR's optional data, a bool followed by the value when present. */
export function optional<T>(item: Codec<T>): Codec<T | null> {
  return {
    encode(w, value) {
      w.bool(value !== null && value !== undefined);
      if (value !== null && value !== undefined) item.encode(w, value);
    },
    decode(r) {
      return r.bool() ? item.decode(r) : null;
    },
  };
}

/** An enum: an int restricted to the declared values. */
export function enumeration<T extends number>(values: readonly T[]): Codec<T> {
  const allowed = new Set<number>(values);
  return {
    encode(w, value) {
      if (!allowed.has(value)) throw new XdrError('INVALID_ENUM', `${value} is not a declared enum value`);
      w.int(value);
    },
    decode(r) {
      const value = r.int();
      if (!allowed.has(value)) throw new XdrError('INVALID_ENUM', `${value} is not a declared enum value`);
      return value as T;
    },
  };
}

type FieldList<T> = ReadonlyArray<readonly [keyof T & string, Codec<unknown>]>;

/** A struct: its fields in declaration order. */
export function struct<T extends object>(fields: FieldList<T>): Codec<T> {
  return {
    encode(w, value) {
      const record = value as Record<string, unknown>;
      for (const [name, codec] of fields) (codec as Codec<unknown>).encode(w, record[name]);
    },
    decode(r) {
      const record: Record<string, unknown> = {};
      for (const [name, codec] of fields) record[name] = (codec as Codec<unknown>).decode(r);
      return record as T;
    },
  };
}

/** One arm of a union: the field name that carries the value (null for `void`) and its codec. */
export type UnionArm = readonly [string | null, Codec<unknown>];

/**
 * A discriminated union `union switch (int d) { case 1: T a; ... }`, as `{ d: 1, a: value }`. An unknown
 * discriminant without a default arm is a decoding error.
 */
export function union<T extends object>(
  discriminant: string,
  arms: ReadonlyMap<number, UnionArm>,
  defaultArm?: UnionArm,
): Codec<T> {
  return {
    encode(w, value) {
      const record = value as Record<string, unknown>;
      const tag = record[discriminant];
      if (typeof tag !== 'number') throw new XdrError('INVALID_DISCRIMINANT', `union needs a numeric ${discriminant}`);
      const arm = arms.get(tag) ?? defaultArm;
      if (!arm) throw new XdrError('INVALID_DISCRIMINANT', `no union arm for ${discriminant}=${tag}`);
      w.int(tag);
      if (arm[0] !== null) (arm[1] as Codec<unknown>).encode(w, record[arm[0]]);
    },
    decode(r) {
      const tag = r.int();
      const arm = arms.get(tag) ?? defaultArm;
      if (!arm) throw new XdrError('INVALID_DISCRIMINANT', `no union arm for ${discriminant}=${tag}`);
      const record: Record<string, unknown> = { [discriminant]: tag };
      if (arm[0] !== null) record[arm[0]] = (arm[1] as Codec<unknown>).decode(r);
      return record as T;
    },
  };
}

/** Defers to a codec defined later (recursive or out-of-order types). */
export function lazy<T>(get: () => Codec<T>): Codec<T> {
  return { encode: (w, v) => get().encode(w, v), decode: (r) => get().decode(r) };
}

/** Encodes one value to bytes. */
export function encode<T>(codec: Codec<T>, value: T): Uint8Array {
  const writer = new XdrWriter();
  codec.encode(writer, value);
  return writer.toBytes();
}

/** Decodes one value that must fill the buffer exactly. */
export function decode<T>(codec: Codec<T>, bytes: Uint8Array): T {
  const reader = new XdrReader(bytes);
  const value = codec.decode(reader);
  reader.expectEnd();
  return value;
}
