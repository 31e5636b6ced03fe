import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { remote_domain_get_info_ret, remote_error, remote_typed_param } from '../protocol/remote.generated.js';
import * as x from './index.js';

describe('XDR codec', () => {
  it('encodes primitives big-endian with 4-byte alignment', () => {
    expect(Buffer.from(x.encode(x.int, -2)).toString('hex')).toBe('fffffffe');
    expect(Buffer.from(x.encode(x.uhyper, 2n ** 40n)).toString('hex')).toBe('0000010000000000');
    expect(Buffer.from(x.encode(x.string(10), 'abcde')).toString('hex')).toBe('000000056162636465000000');
    expect(Buffer.from(x.encode(x.optional(x.int), null)).toString('hex')).toBe('00000000');
    expect(Buffer.from(x.encode(x.fixedOpaque(3), new Uint8Array([1, 2, 3]))).toString('hex')).toBe('01020300');
  });

  it('round-trips generated structs, optionals and unions', () => {
    const error = {
      code: 42,
      domain: 10,
      message: 'Domain not found',
      level: 2,
      dom: { name: 'vm', uuid: new Uint8Array(16).fill(7), id: -1 },
      str1: null,
      str2: 'x',
      str3: null,
      int1: 0,
      int2: -5,
      net: null,
    };
    expect(x.decode(remote_error, x.encode(remote_error, error))).toEqual(error);
    const param = { field: 'cpu_time', value: { type: 4 as const, ul: 123456789012345n } };
    expect(x.decode(remote_typed_param, x.encode(remote_typed_param, param))).toEqual(param);
  });

  it('refuses values outside a type', () => {
    expect(() => x.encode(x.int, 2 ** 31)).toThrow(x.XdrError);
    expect(() => x.encode(x.string(3), 'abcd')).toThrow(/exceeds/);
    expect(() => x.encode(x.array(x.int, 1), [1, 2])).toThrow(/exceeds/);
  });

  it('rejects truncated, over-long and invalid input with a typed error', () => {
    const expectCode = (fn: () => unknown, code: x.XdrErrorCode) => {
      try {
        fn();
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(x.XdrError);
        expect((error as x.XdrError).code).toBe(code);
      }
    };
    expectCode(() => x.decode(x.int, new Uint8Array(3)), 'TRUNCATED');
    expectCode(
      () => x.decode(x.string(4), new Uint8Array([0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0])),
      'LIMIT_EXCEEDED',
    );
    expectCode(() => x.decode(x.bool, new Uint8Array([0, 0, 0, 2])), 'INVALID_BOOL');
    // A count of 2^32-1 items must fail at once, not allocate or loop.
    expectCode(() => x.decode(x.array(x.int), new Uint8Array([0xff, 0xff, 0xff, 0xff])), 'TRUNCATED');
    expectCode(() => x.decode(x.int, new Uint8Array(8)), 'TRAILING_BYTES');
    expectCode(() => x.decode(x.string(), new Uint8Array([0, 0, 0, 2, 0xc3, 0x28, 0, 0])), 'INVALID_UTF8');
  });

  it('fuzz: decoding arbitrary bytes either succeeds or throws XdrError, never anything else', () => {
    const codecs = [remote_error, remote_domain_get_info_ret, remote_typed_param, x.array(x.string(64), 8)];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.integer({ min: 0, max: codecs.length - 1 }), (bytes, which) => {
        try {
          x.decode(codecs[which] as x.Codec<unknown>, bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(x.XdrError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('fuzz: every truncation of a valid encoding throws TRUNCATED', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }),
        fc.integer(),
        fc.option(fc.string({ maxLength: 20 })),
        (message, code, str1) => {
          const bytes = x.encode(remote_error, {
            code: code | 0,
            domain: 1,
            message,
            level: 2,
            dom: null,
            str1,
            str2: null,
            str3: null,
            int1: 0,
            int2: 0,
            net: null,
          });
          for (let cut = 0; cut < bytes.byteLength; cut += 3) {
            expect(() => x.decode(remote_error, bytes.subarray(0, cut))).toThrow(x.XdrError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
