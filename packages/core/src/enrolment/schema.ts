import * as z from 'zod';

/**
 * What the agent POSTs (packages/agent/src/identity.ts): `{guestId, instanceId, token, csrPem}`. Bounded in
 * every field so a body that passes holds nothing big; unknown fields are refused rather than ignored.
 */
export const ENROLMENT_PATH = '/v1/enrol';

/** A P-256 CSR in PEM is about 500 bytes; 8 KiB leaves room for any subject a guest might ask for. */
export const MAX_CSR_PEM_CHARS = 8192;
/** The whole body: the CSR, the token (~200 characters), two ids and JSON punctuation. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;

export const EnrolmentRequestSchema = z.strictObject({
  guestId: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/, 'must be 1-128 letters, digits, `_` or `-` (it is a topic level)'),
  instanceId: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/,
      'must be an instance id: 1-128 letters, digits, `.`, `_`, `:` or `-`',
    ),
  token: z
    .string()
    .min(16, 'must be at least 16 characters')
    .max(1024, 'must be at most 1024 characters')
    .regex(/^[A-Za-z0-9._-]+$/, 'must be base64url text and dots'),
  csrPem: z
    .string()
    .max(MAX_CSR_PEM_CHARS, `must be at most ${MAX_CSR_PEM_CHARS} characters`)
    .regex(
      /^\s*-----BEGIN CERTIFICATE REQUEST-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE REQUEST-----\s*$/,
      'must be one PEM certificate request (BEGIN CERTIFICATE REQUEST)',
    ),
});
export type EnrolmentRequest = z.infer<typeof EnrolmentRequestSchema>;

export const EnrolmentReplySchema = z.object({ certPem: z.string().min(1) });
export type EnrolmentReply = z.infer<typeof EnrolmentReplySchema>;
