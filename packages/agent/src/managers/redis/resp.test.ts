import { describe, expect, it } from 'vitest';
import { encodeCommand, parseResp, RespError } from './resp.js';

describe('RESP', () => {
  it('encodes commands as arrays of bulk strings', () => {
    expect(encodeCommand(['SET', 'k', 'vé']).toString()).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nvé\r\n');
  });

  it('parses every reply type and waits for whole values', () => {
    expect(parseResp(Buffer.from('+PONG\r\n'))?.value).toBe('PONG');
    expect(parseResp(Buffer.from(':42\r\n'))?.value).toBe(42);
    expect(parseResp(Buffer.from('$-1\r\n'))?.value).toBeNull();
    expect(parseResp(Buffer.from('-ERR bad\r\n'))?.value).toBeInstanceOf(RespError);
    expect(parseResp(Buffer.from('*2\r\n$3\r\nfoo\r\n:1\r\n'))?.value).toEqual(['foo', 1]);
    expect(parseResp(Buffer.from('$5\r\nhel'))).toBeUndefined();
    expect(parseResp(Buffer.from('*2\r\n$3\r\nfoo\r\n'))).toBeUndefined();
    expect(parseResp(Buffer.from('+OK'))).toBeUndefined();
  });

  it('rejects an unknown type byte', () => {
    expect(() => parseResp(Buffer.from('?x\r\n'))).toThrow(RespError);
  });
});
