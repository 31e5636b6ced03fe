/**
 * The one envelope every corral MQTT message travels in, used by both sides. Correlation ids and reply topics
 * live in the payload (MQTT 3.1.1 has no properties for them); MQTT 5's response topic and message expiry are
 * set as well when the broker speaks 5, but receivers never depend on them.
 *
 * Ordering is by (bootId, seq): `seq` is monotonic per sender boot, so clock skew cannot reorder or drop good
 * messages. `sentAt` is informational only.
 */
import * as z from 'zod';

export const ENVELOPE_VERSION = 1 as const;

/** Checked on the raw bytes before any parsing. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

/**
 * The largest MQTT packet either broker accepts and our clients take (the envelope limit plus room for the
 * topic and MQTT 5 properties). A bigger packet ends the connection before its body is buffered.
 */
export const MAX_PACKET_BYTES = DEFAULT_MAX_PAYLOAD_BYTES + 64 * 1024;

/** Longest time to live a message may ask for (7 days). */
export const MAX_TTL_MS = 7 * 24 * 3600 * 1000;

const Id = z.string().min(1).max(128);

export const MethodNameSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.:-]{0,127}$/, 'method: a letter, then up to 127 of A-Z a-z 0-9 _ . : -');

export const RemoteErrorSchema = z.object({
  code: z.string().min(1).max(64),
  message: z.string().max(4096),
  details: z.unknown().optional(),
});
export type RemoteErrorBody = z.infer<typeof RemoteErrorSchema>;

const common = {
  v: z.literal(ENVELOPE_VERSION),
  /** Unique per message; the receiver's duplicate window keys on it (QoS 1 may deliver twice). */
  id: Id,
  /** The sender's identity CN (guest id, or `service.<name>`). */
  from: z.string().min(1).max(200),
  /** Random per process start of the sender. */
  bootId: Id,
  /** Monotonic per (from, bootId), starting at 1. */
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  /** Sender's clock, ms since the epoch: informational only, never used for ordering or expiry decisions. */
  sentAt: z.number().int().nonnegative(),
  ttlMs: z.number().int().positive().max(MAX_TTL_MS),
};

export const CastEnvelopeSchema = z.object({
  ...common,
  kind: z.literal('cast'),
  method: MethodNameSchema,
  args: z.unknown(),
});

export const CallEnvelopeSchema = z.object({
  ...common,
  kind: z.literal('call'),
  method: MethodNameSchema,
  args: z.unknown(),
  correlationId: Id,
  /** Where the reply goes; the broker's ACL decides whether the replier may publish there. */
  replyTo: z.string().min(1).max(512),
});

export const ReplyOutcomeSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: RemoteErrorSchema }),
]);

export const ReplyEnvelopeSchema = z.object({
  ...common,
  kind: z.literal('reply'),
  correlationId: Id,
  outcome: ReplyOutcomeSchema,
});

export const EnvelopeSchema = z.discriminatedUnion('kind', [
  CastEnvelopeSchema,
  CallEnvelopeSchema,
  ReplyEnvelopeSchema,
]);

export type Envelope = z.infer<typeof EnvelopeSchema>;
export type CastEnvelope = z.infer<typeof CastEnvelopeSchema>;
export type CallEnvelope = z.infer<typeof CallEnvelopeSchema>;
export type ReplyEnvelope = z.infer<typeof ReplyEnvelopeSchema>;
export type ReplyOutcome = z.infer<typeof ReplyOutcomeSchema>;

export type DecodeFailureReason = 'too_large' | 'not_json' | 'schema';

export type DecodeResult =
  | { ok: true; envelope: Envelope }
  | { ok: false; reason: DecodeFailureReason; detail: string };

/** Size check, JSON, then the schema; never throws. */
export function decodeEnvelope(payload: Uint8Array, maxBytes = DEFAULT_MAX_PAYLOAD_BYTES): DecodeResult {
  if (payload.byteLength > maxBytes) {
    return { ok: false, reason: 'too_large', detail: `${payload.byteLength} bytes > ${maxBytes}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    return { ok: false, reason: 'not_json', detail: 'payload is not JSON' };
  }
  const parsed = EnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : '(root)';
    return { ok: false, reason: 'schema', detail: `${where}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, envelope: parsed.data };
}

export function encodeEnvelope(envelope: Envelope): Buffer {
  return Buffer.from(JSON.stringify(envelope), 'utf8');
}
