import type { ClientRequest, Agent as HttpAgent } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuthError, type ProviderError } from '@corral/core/contract';
import got, { type Got, type Method, RequestError, TimeoutError } from 'got';
import {
  errorFromResponse,
  errorFromTransport,
  type OpenStackErrorContext,
  PROVIDER_NAME,
  parseRetryAfter,
  withContext,
} from './errors.js';
import { type Logger, silentLogger } from './logger.js';

/** Gives the current token and renews it. Implemented by identity's `AuthSession`. */
export interface TokenSource {
  token(signal?: AbortSignal): Promise<string>;
  /** Drops `stale` (if still current) so the next `token()` authenticates again; concurrent callers share it. */
  invalidate(stale: string): void;
  /** False for a fixed token: a 401 cannot be cured by authenticating again. */
  readonly renewable: boolean;
}

export interface RetryPolicy {
  /** Retries for idempotent methods after 429/502/503/504 or a lost connection. */
  retries: number;
  /** A Retry-After above this is not waited for: the error is thrown with its `retryAfterMs`. */
  maxRetryAfterMs: number;
  /** First back-off when the server gave no Retry-After; doubles each time. */
  baseDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { retries: 3, maxRetryAfterMs: 30_000, baseDelayMs: 250 };

/** One finished HTTP exchange, for metrics: `networkMs` is got's own timing, the rest is this client's. */
export interface RequestMetric {
  service: string;
  method: string;
  url: string;
  status: number | undefined;
  requestId?: string;
  totalMs: number;
  networkMs: number | undefined;
  attempt: number;
}

export interface TransportOptions {
  tokens?: TokenSource;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  logger?: Logger;
  agent?: HttpAgent;
  onRequest?: (metric: RequestMetric) => void;
  /** Escape hatch for tests and proxies: extends the got instance (hooks, agents). */
  extendGot?: (instance: Got) => Got;
}

export type QueryValue = string | number | boolean | undefined;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  json?: unknown;
  /** A raw body (image upload); sent as application/octet-stream unless `headers` say otherwise. */
  body?: Buffer | Readable;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Overrides the method's idempotency: PUT with a one-shot stream body must not be retried. */
  idempotent?: boolean;
  /** Skips the token (Keystone's own auth request). */
  anonymous?: boolean;
  /**
   * Sends the request once more when it failed on a kept-alive connection before any answer (default true).
   * False where the caller recovers by itself: a create it looks up by idempotency key, because a connection
   * that broke after the service acted (a proxy's timeout) looks the same and must not make a second one.
   */
  resendOnClosedConnection?: boolean;
}

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  requestId?: string;
  url: string;
}

const idempotentMethods = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const retryableStatuses = new Set([429, 502, 503, 504]);
const retryableCodes = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
/** How a kept-alive connection that the server closed while we reused it fails (Node's own guidance). */
const closedSocketCodes = new Set(['ECONNRESET', 'EPIPE']);

type Outcome =
  | { kind: 'response'; response: HttpResponse }
  | { kind: 'transport'; cause: unknown; timeout: boolean; staleSocket: boolean };

/**
 * The HTTP layer every service shares: token injection, one re-authenticated retry after a 401, request-id
 * capture, JSON, timeouts, and retries that never repeat a POST blindly.
 *
 * A request of any method (POST included) is sent once more when it failed on a kept-alive connection before
 * any byte of answer came back: the server had closed that connection (nova-api under uwsgi closes it after a
 * 204 without saying `Connection: close`), so the request never reached it.
 */
export class Transport {
  readonly got: Got;
  /** Set after construction when the token source itself needs this transport (Keystone). */
  tokens?: TokenSource;
  readonly logger: Logger;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly onRequest?: (metric: RequestMetric) => void;

  constructor(options: TransportOptions = {}) {
    this.tokens = options.tokens;
    this.logger = options.logger ?? silentLogger;
    this.retry = { ...defaultRetryPolicy, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.onRequest = options.onRequest;
    const base = got.extend({
      throwHttpErrors: false,
      followRedirect: false,
      retry: { limit: 0 },
      responseType: 'buffer',
      ...(options.agent ? { agent: { http: options.agent } } : {}),
    });
    this.got = options.extendGot ? options.extendGot(base) : base;
  }

  async request<T = unknown>(
    service: string,
    method: string,
    url: string,
    options: RequestOptions = {},
  ): Promise<HttpResponse<T>> {
    const upper = method.toUpperCase();
    const idempotent = options.idempotent ?? idempotentMethods.has(upper);
    const fullUrl = withQuery(url, options.query);
    // A stream body is spent after one send; such a request is not sent again.
    const resendable = options.body === undefined || Buffer.isBuffer(options.body);
    let reauthenticated = false;
    let resentAfterStaleSocket = false;
    for (let attempt = 0; ; attempt++) {
      const token = options.anonymous || !this.tokens ? undefined : await this.tokens.token(options.signal);
      const outcome = await this.once(service, upper, fullUrl, options, token, attempt);
      const context: OpenStackErrorContext = { service, method: upper, url: fullUrl };
      if (outcome.kind === 'transport') {
        const mayResend = resendable && options.resendOnClosedConnection !== false && !resentAfterStaleSocket;
        if (outcome.staleSocket && mayResend) {
          resentAfterStaleSocket = true;
          this.logger.debug(
            { service, method: upper, url: fullUrl },
            'kept-alive connection was closed by the server before it answered; sending once more',
          );
          continue;
        }
        this.logger.warn(
          { service, method: upper, url: fullUrl, error: messageOf(outcome.cause) },
          'openstack request failed',
        );
        const error = errorFromTransport(context, outcome.cause, outcome.timeout ? 'timeout' : 'connection');
        if (idempotent && !outcome.timeout && attempt < this.retry.retries && isRetryableCode(outcome.cause)) {
          await this.backoff(attempt, undefined, options.signal);
          continue;
        }
        throw error;
      }
      const { response } = outcome;
      if (response.status < 400) return response as HttpResponse<T>;
      if (response.status === 401 && token !== undefined && this.tokens?.renewable && !reauthenticated && resendable) {
        // Keystone middleware rejects before the service acts, so even a POST is safe to send again once.
        reauthenticated = true;
        this.logger.info(
          { service, method: upper, url: fullUrl, requestId: response.requestId },
          'token rejected; re-authenticating once',
        );
        this.tokens.invalidate(token);
        continue;
      }
      const retryAfterMs = parseRetryAfter(header(response.headers, 'retry-after'));
      const failure = {
        ...context,
        status: response.status,
        requestId: response.requestId,
        body: response.body,
        retryAfterMs,
      };
      if (idempotent && retryableStatuses.has(response.status) && attempt < this.retry.retries) {
        if (retryAfterMs === undefined || retryAfterMs <= this.retry.maxRetryAfterMs) {
          await this.backoff(attempt, retryAfterMs, options.signal);
          continue;
        }
      }
      throw errorFromResponse(failure);
    }
  }

  private async once(
    service: string,
    method: string,
    url: string,
    options: RequestOptions,
    token: string | undefined,
    attempt: number,
  ): Promise<Outcome> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (token !== undefined) headers['x-auth-token'] = token;
    let body: Buffer | Readable | string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.body !== undefined) {
      body = options.body;
      headers['content-type'] ??= 'application/octet-stream';
    }
    const started = performance.now();
    let sent: ClientRequest | undefined;
    try {
      const response = await this.got(url, {
        method: method as Method,
        headers,
        body,
        signal: options.signal,
        timeout: { request: options.timeoutMs ?? this.timeoutMs },
        responseType: 'buffer',
      }).on('request', (request) => {
        sent = request;
      });
      const requestId =
        header(response.headers, 'x-openstack-request-id') ?? header(response.headers, 'x-compute-request-id');
      const parsed: HttpResponse = {
        status: response.statusCode,
        headers: response.headers,
        body: parseBody(response.body, header(response.headers, 'content-type')),
        requestId,
        url,
      };
      const totalMs = performance.now() - started;
      this.onRequest?.({
        service,
        method,
        url,
        status: response.statusCode,
        requestId,
        totalMs,
        networkMs: response.timings.phases.total,
        attempt,
      });
      this.logger.debug(
        { service, method, url, status: response.statusCode, requestId, ms: Math.round(totalMs) },
        'openstack request',
      );
      return { kind: 'response', response: parsed };
    } catch (cause) {
      if (options.signal?.aborted) throw options.signal.reason ?? cause;
      const totalMs = performance.now() - started;
      this.onRequest?.({ service, method, url, status: undefined, totalMs, networkMs: undefined, attempt });
      if (!(cause instanceof RequestError)) {
        this.logger.warn({ service, method, url, error: messageOf(cause) }, 'openstack request failed');
        throw cause;
      }
      const timeout = cause instanceof TimeoutError;
      return { kind: 'transport', cause, timeout, staleSocket: !timeout && failedOnStaleSocket(sent, cause) };
    }
  }

  private async backoff(attempt: number, retryAfterMs: number | undefined, signal?: AbortSignal): Promise<void> {
    const exponential = this.retry.baseDelayMs * 2 ** attempt;
    const delay =
      retryAfterMs ?? Math.min(exponential + Math.random() * this.retry.baseDelayMs, this.retry.maxRetryAfterMs);
    await sleep(delay, undefined, { signal });
  }
}

/** A Transport bound to one service's endpoint, with default headers (microversions). */
export class ServiceClient {
  constructor(
    readonly transport: Transport,
    /** Catalog service type, used in errors and logs. */
    readonly service: string,
    /** The endpoint, without a trailing slash. */
    readonly endpoint: string,
    readonly defaultHeaders: Record<string, string> = {},
  ) {}

  /** Joins path parts onto the endpoint, encoding each part; absolute URLs are kept as they are. */
  url(...parts: string[]): string {
    return [this.endpoint, ...parts.map((part) => encodeURIComponent(part))].join('/');
  }

  request<T = unknown>(method: string, url: string, options: RequestOptions = {}): Promise<HttpResponse<T>> {
    return this.transport.request<T>(this.service, method, url, {
      ...options,
      headers: { ...this.defaultHeaders, ...options.headers },
    });
  }

  get<T = unknown>(url: string, options?: RequestOptions) {
    return this.request<T>('GET', url, options);
  }
  post<T = unknown>(url: string, json: unknown, options?: RequestOptions) {
    return this.request<T>('POST', url, { ...options, json });
  }
  put<T = unknown>(url: string, json: unknown, options?: RequestOptions) {
    return this.request<T>('PUT', url, { ...options, json });
  }
  delete<T = unknown>(url: string, options?: RequestOptions) {
    return this.request<T>('DELETE', url, options);
  }

  /** A copy with extra default headers, e.g. a different microversion for one call site. */
  withHeaders(headers: Record<string, string>): ServiceClient {
    return new ServiceClient(this.transport, this.service, this.endpoint, { ...this.defaultHeaders, ...headers });
  }
}

export function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function withQuery(url: string, query: Record<string, QueryValue> | undefined): string {
  if (!query) return url;
  const parsed = new URL(url);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) parsed.searchParams.set(key, String(value));
  }
  return parsed.toString();
}

function parseBody(buffer: Buffer, contentType: string | undefined): unknown {
  if (buffer.length === 0) return undefined;
  const text = buffer.toString('utf8');
  if (contentType?.includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/** The request went out on a reused keep-alive connection that the server had closed, and no answer began. */
function failedOnStaleSocket(sent: ClientRequest | undefined, cause: RequestError): boolean {
  return sent?.reusedSocket === true && cause.response === undefined && closedSocketCodes.has(cause.code);
}

function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function isRetryableCode(cause: unknown): boolean {
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return typeof code === 'string' && retryableCodes.has(code);
}

/** An AuthError for failures found before any HTTP call (bad config, a token that cannot be renewed). */
export function authError(message: string, context?: OpenStackErrorContext): ProviderError {
  const error = new AuthError(message, { provider: PROVIDER_NAME });
  return context ? withContext(error, context) : error;
}
