import { CorralError } from '../errors/index.js';

/**
 * Every refusal of the enrolment endpoint: a stable code (what the agent prints and a caller branches on) and
 * the HTTP status it travels with. Messages never quote the token, the CSR or anything secret.
 */
export const ENROLMENT_REFUSALS = {
  BODY_INVALID: 400,
  JSON_INVALID: 400,
  CSR_INVALID: 400,
  CSR_KEY_UNSUPPORTED: 400,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_MISMATCH: 403,
  INSTANCE_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TOKEN_USED: 409,
  ALREADY_ENROLLED: 409,
  INSTANCE_DELETED: 409,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
} as const;

export type EnrolmentRefusalCode = keyof typeof ENROLMENT_REFUSALS;

export class EnrolmentError extends CorralError {
  readonly code: EnrolmentRefusalCode;
  readonly status: number;

  constructor(code: EnrolmentRefusalCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = ENROLMENT_REFUSALS[code];
  }

  /** The reply body: `{error: {code, message}}`, what the agent's client reads. */
  toBody(): { error: { code: EnrolmentRefusalCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}
