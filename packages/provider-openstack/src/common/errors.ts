import {
  AuthError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  type ProviderError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  QuotaExceededError,
  RateLimitedError,
} from '@corral/core/contract';

export const PROVIDER_NAME = 'openstack';

/** Where a failed call went: every error this package throws carries it (see `openStackContext`). */
export interface OpenStackErrorContext {
  /** Catalog service type: `compute`, `image`, `identity`… */
  service: string;
  method: string;
  url: string;
  status?: number;
  requestId?: string;
}

const contextKey = Symbol.for('corral.openstack.context');

/** Attaches the call's context to a core error without changing its class (callers branch on core classes). */
export function withContext<E extends ProviderError>(error: E, context: OpenStackErrorContext): E {
  Object.defineProperty(error, contextKey, { value: context, enumerable: false });
  const json = error.toJSON.bind(error);
  Object.defineProperty(error, 'toJSON', {
    value: () => ({ ...json(), service: context.service, method: context.method, url: context.url }),
    enumerable: false,
  });
  return error;
}

/** The service, method, URL, status and request id of the call that failed, if it was an HTTP call. */
export function openStackContext(error: unknown): OpenStackErrorContext | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  return (error as { [contextKey]?: OpenStackErrorContext })[contextKey];
}

/** Pulls the human message out of the error bodies OpenStack services send (JSON of several shapes, or HTML). */
export function extractMessage(body: unknown): string | undefined {
  if (typeof body === 'string') {
    const text = stripHtml(body);
    return text.length > 0 ? text.slice(0, 500) : undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as Record<string, unknown>;
  // Glance: {"message": "...<br /><br />...", "code": "404 Not Found", "title": "Not Found"}
  if (typeof record.message === 'string') return stripHtml(record.message);
  // Nova/Cinder {"itemNotFound": {"message"}}, Keystone {"error": {...}}, Neutron {"NeutronError": {...}}
  for (const value of Object.values(record)) {
    if (typeof value === 'object' && value !== null) {
      const inner = value as Record<string, unknown>;
      if (typeof inner.message === 'string') return stripHtml(inner.message);
    }
  }
  return undefined;
}

function stripHtml(text: string): string {
  return text
    .replace(/<br\s*\/?>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Retry-After in milliseconds: delta seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export interface HttpFailure extends OpenStackErrorContext {
  status: number;
  body: unknown;
  retryAfterMs?: number;
}

/** Maps an HTTP error answer to core's error family. Nova reports quota as 403 "Quota exceeded…". */
export function errorFromResponse(failure: HttpFailure): ProviderError {
  const detail = extractMessage(failure.body) ?? `HTTP ${failure.status}`;
  const requestPart = failure.requestId ? ` [${failure.requestId}]` : '';
  const message = `${failure.service} ${failure.method} ${failure.url} → ${failure.status}${requestPart}: ${detail}`;
  const options = { provider: PROVIDER_NAME, status: failure.status, requestId: failure.requestId };
  const status = failure.status;
  let error: ProviderError;
  if (/quota exceeded|exceeds? (the )?(allowed )?quota|over ?limit|maximum number of/i.test(detail) && status < 500) {
    error = new QuotaExceededError(message, options);
  } else if (status === 400 || status === 422) {
    error = new BadRequestError(message, options);
  } else if (status === 401 || status === 403) {
    error = new AuthError(message, options);
  } else if (status === 404) {
    error = new NotFoundError(message, options);
  } else if (status === 409) {
    error = new ConflictError(message, options);
  } else if (status === 413) {
    // Old Nova answered over-quota with 413; with a Retry-After it meant rate limiting.
    error =
      failure.retryAfterMs === undefined
        ? new QuotaExceededError(message, options)
        : new RateLimitedError(message, { ...options, retryAfterMs: failure.retryAfterMs });
  } else if (status === 429) {
    error = new RateLimitedError(message, { ...options, retryAfterMs: failure.retryAfterMs });
  } else if (status === 408 || status === 504) {
    error = new ProviderTimeoutError(message, options);
  } else if (status >= 500) {
    error = new ProviderUnavailableError(message, options);
  } else {
    error = new BadRequestError(message, options);
  }
  return withContext(error, failure);
}

/** A request that never got an answer: connection refused/reset, or our own timeout. */
export function errorFromTransport(
  context: OpenStackErrorContext,
  cause: unknown,
  kind: 'timeout' | 'connection',
): ProviderError {
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  const reason = `${typeof code === 'string' ? code : 'error'}${cause instanceof Error ? `: ${cause.message}` : ''}`;
  const message = `${context.service} ${context.method} ${context.url}: ${kind === 'timeout' ? 'timed out' : 'no answer'} (${reason})`;
  const options = { provider: PROVIDER_NAME, cause };
  const error =
    kind === 'timeout' ? new ProviderTimeoutError(message, options) : new ProviderUnavailableError(message, options);
  return withContext(error, context);
}

/**
 * True when a create may or may not have happened: the request left but no answer (or a 5xx) came back.
 * After such a failure the provider looks the server up by its idempotency key instead of creating another.
 */
export function isAmbiguousFailure(error: unknown): boolean {
  // A refused connection never carried the request: that failure is certain, not ambiguous.
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (cause?.code === 'ECONNREFUSED') return false;
  if (error instanceof ProviderTimeoutError || error instanceof ProviderUnavailableError) return true;
  const status = openStackContext(error)?.status;
  return status !== undefined && status >= 500;
}
