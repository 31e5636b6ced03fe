import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';
import { DedupeWindow } from './dedupe.js';
import { type CastEnvelope, DEFAULT_MAX_PAYLOAD_BYTES, decodeEnvelope, encodeEnvelope } from './envelope.js';
import { applyStateMessage, birthMessage, deathMessage, parseStateMessage } from './liveness.js';
import { RateLimitedLog, silentLogger } from './log.js';

const cast: CastEnvelope = {
  v: 1,
  id: 'm1',
  from: 'service.tm',
  bootId: 'b1',
  seq: 1,
  sentAt: 1_700_000_000_000,
  ttlMs: 60_000,
  kind: 'cast',
  method: 'prepare',
  args: { packages: ['redis'] },
};

describe('envelope', () => {
  it('round-trips calls, casts and replies', () => {
    const call = { ...cast, kind: 'call' as const, correlationId: 'c1', replyTo: 'corral/v1/guest/g/reply' };
    const { method: _method, args: _args, ...header } = cast;
    const reply = {
      ...header,
      kind: 'reply' as const,
      correlationId: 'c1',
      outcome: { ok: false as const, error: { code: 'X', message: 'y' } },
    };
    for (const envelope of [cast, call, reply]) {
      const decoded = decodeEnvelope(encodeEnvelope(envelope as never));
      expect(decoded).toEqual({ ok: true, envelope });
    }
  });

  it('names the field and rule of a schema failure', () => {
    const decoded = decodeEnvelope(Buffer.from(JSON.stringify({ ...cast, seq: -1 })));
    expect(decoded).toMatchObject({ ok: false, reason: 'schema' });
    expect(decoded.ok ? '' : decoded.detail).toMatch(/^seq:/);
    expect(decodeEnvelope(Buffer.from(JSON.stringify({ ...cast, method: 'bad method' })))).toMatchObject({
      ok: false,
      reason: 'schema',
    });
    expect(decodeEnvelope(Buffer.from(JSON.stringify({ ...cast, kind: 'call' })))).toMatchObject({ ok: false });
  });

  it('checks the size before parsing', () => {
    const big = Buffer.alloc(DEFAULT_MAX_PAYLOAD_BYTES + 1, 0x20);
    expect(decodeEnvelope(big)).toMatchObject({ ok: false, reason: 'too_large' });
    expect(decodeEnvelope(Buffer.from('{'))).toMatchObject({ ok: false, reason: 'not_json' });
  });

  it('never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array(),
          fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '')),
        ),
        (bytes) => {
          const result = decodeEnvelope(bytes);
          expect(typeof result.ok).toBe('boolean');
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('helpers', () => {
  it('back-off grows exponentially with jitter and a cap', () => {
    expect(backoffDelay(0, { initialMs: 100, random: () => 0 })).toBe(50);
    expect(backoffDelay(0, { initialMs: 100, random: () => 1 })).toBe(100);
    expect(backoffDelay(3, { initialMs: 100, random: () => 1 })).toBe(800);
    expect(backoffDelay(50, { initialMs: 100, maxMs: 5000, random: () => 1 })).toBe(5000);
  });

  it('the duplicate window remembers ids and replies within its bounds', () => {
    let now = 0;
    const window = new DedupeWindow(2, 1000, () => now);
    expect(window.seen('a')).toBeUndefined();
    window.remember('a', { topic: 't', payload: Buffer.from('r') });
    expect(window.seen('a')?.reply?.topic).toBe('t');
    window.seen('b');
    window.seen('c');
    expect(window.size).toBe(2);
    expect(window.seen('a')).toBeUndefined(); // evicted by capacity
    now = 5000;
    expect(window.seen('c')).toBeUndefined(); // expired
  });

  it('liveness: a death counts only for the current boot', () => {
    const born = applyStateMessage(undefined, birthMessage('g', 'boot-2'));
    expect(applyStateMessage(born, deathMessage('g', 'boot-1'))).toEqual({ alive: true, bootId: 'boot-2' });
    expect(applyStateMessage(born, deathMessage('g', 'boot-2'))).toEqual({ alive: false, bootId: 'boot-2' });
    expect(applyStateMessage(undefined, deathMessage('g', 'boot-1')).alive).toBe(false);
    expect(parseStateMessage(Buffer.from('{"v":1}'))).toBeUndefined();
    expect(parseStateMessage(Buffer.from(JSON.stringify(birthMessage('g', 'b')))))?.toMatchObject({ state: 'birth' });
  });

  it('rate-limited logging suppresses floods and reports how many it dropped', () => {
    let now = 0;
    const lines: Array<Record<string, unknown>> = [];
    const logger = silentLogger();
    logger.warn = ((fields: Record<string, unknown>) => {
      lines.push(fields);
    }) as typeof logger.warn;
    const log = new RateLimitedLog(logger, 1000, () => now);
    for (let i = 0; i < 100; i++) log.warn('k', {}, 'bad');
    now = 1500;
    log.warn('k', {}, 'bad');
    expect(lines).toEqual([{ suppressed: 0 }, { suppressed: 99 }]);
  });
});
