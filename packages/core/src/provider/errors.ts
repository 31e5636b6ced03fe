/**
 * The typed errors every provider throws. A caller branches on `code` (stable, never reworded) or on the
 * class; the message is for people. Each error carries the provider's name and, where the backend gave
 * one, its request id, so a log line can be matched with the cloud's own logs.
 */

export const providerErrorCodes = [
  'NOT_FOUND',
  'CONFLICT',
  'QUOTA_EXCEEDED',
  'RATE_LIMITED',
  'AUTH',
  'BAD_REQUEST',
  'PROVISIONING_FAILED',
  'TIMEOUT',
  'UNSUPPORTED',
  'UNAVAILABLE',
] as const;

export type ProviderErrorCode = (typeof providerErrorCodes)[number];

/** What the backend said went wrong with a server (Nova's `fault`, libvirt's error). */
export interface ServerFault {
  message: string;
  /** The backend's own code, e.g. Nova's 500 or libvirt's VIR_ERR_* number. */
  code?: number | string;
  /** Longer text; may be a traceback. Never contains secrets the provider knows of. */
  details?: string;
}

export interface ProviderErrorOptions {
  provider: string;
  /** The backend's request id (`x-openstack-request-id`, libvirt serial…). */
  requestId?: string;
  /** HTTP status or backend code, when there is one. */
  status?: number;
  cause?: unknown;
}

export abstract class ProviderError extends Error {
  abstract readonly code: ProviderErrorCode;
  readonly provider: string;
  readonly requestId?: string;
  readonly status?: number;
  /** True when the same call may succeed if made again later (after `retryAfterMs`, if set). */
  readonly retryable: boolean = false;

  constructor(message: string, options: ProviderErrorOptions) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.provider = options.provider;
    this.requestId = options.requestId;
    this.status = options.status;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      provider: this.provider,
      requestId: this.requestId,
      status: this.status,
    };
  }
}

export class NotFoundError extends ProviderError {
  readonly code = 'NOT_FOUND';
}

export class ConflictError extends ProviderError {
  readonly code = 'CONFLICT';
}

export class QuotaExceededError extends ProviderError {
  readonly code = 'QUOTA_EXCEEDED';
}

export class RateLimitedError extends ProviderError {
  readonly code = 'RATE_LIMITED';
  override readonly retryable = true;
  /** How long the backend asked us to wait, when it said (Retry-After). */
  readonly retryAfterMs?: number;

  constructor(message: string, options: ProviderErrorOptions & { retryAfterMs?: number }) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class AuthError extends ProviderError {
  readonly code = 'AUTH';
}

export class BadRequestError extends ProviderError {
  readonly code = 'BAD_REQUEST';
}

/** The backend accepted the server but it ended in ERROR; `fault` is the backend's own explanation. */
export class ProvisioningFailedError extends ProviderError {
  readonly code = 'PROVISIONING_FAILED';
  readonly serverId?: string;
  readonly fault: ServerFault;

  constructor(message: string, options: ProviderErrorOptions & { fault: ServerFault; serverId?: string }) {
    super(message, options);
    this.fault = options.fault;
    this.serverId = options.serverId;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), serverId: this.serverId, fault: this.fault };
  }
}

export class ProviderTimeoutError extends ProviderError {
  readonly code = 'TIMEOUT';
  override readonly retryable = true;
}

export class UnsupportedError extends ProviderError {
  readonly code = 'UNSUPPORTED';
}

/** The backend could not be reached or answered 5xx; the outcome of a non-idempotent call is unknown. */
export class ProviderUnavailableError extends ProviderError {
  readonly code = 'UNAVAILABLE';
  override readonly retryable = true;
}

export function isProviderError(error: unknown): error is ProviderError {
  return error instanceof ProviderError;
}
