import { AuthError, ProviderError } from '@corral/core/contract';
import { openStackContext, PROVIDER_NAME, withContext } from '../common/errors.js';
import { authError, header, ServiceClient, type TokenSource, type Transport } from '../common/http.js';
import { identityBase, type ResolvedAuthOptions } from './auth-options.js';
import { type EndpointQuery, selectEndpoint } from './catalog.js';
import { authRequestBody } from './tokens/requests.js';
import { type Token, TokenBodySchema, toToken } from './tokens/results.js';
import { tokensUrl } from './tokens/urls.js';

export interface AuthSessionOptions {
  /** Renew this long before expiry (default 5 minutes, at most half the token's lifetime). */
  refreshMarginMs?: number;
  endpoints?: EndpointQuery;
  now?: () => number;
}

/**
 * A Keystone v3 session: authenticates lazily, caches the token, renews it before it expires, and after a
 * 401 re-authenticates once for all concurrent callers (single flight). Credentials never leave it.
 */
export class AuthSession implements TokenSource {
  readonly renewable = true;
  /** How many times this session authenticated; lets tests and benchmarks see that re-auth was shared. */
  authentications = 0;
  private current?: Token;
  private inflight?: Promise<Token>;
  private readonly refreshMarginMs: number;
  private readonly now: () => number;

  constructor(
    private readonly transport: Transport,
    private readonly auth: ResolvedAuthOptions,
    private readonly options: AuthSessionOptions = {},
  ) {
    this.refreshMarginMs = options.refreshMarginMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  async token(signal?: AbortSignal): Promise<string> {
    return (await this.tokenDetails(signal)).id;
  }

  /** The current token with its user, project and catalog, authenticating if needed. */
  async tokenDetails(signal?: AbortSignal): Promise<Token> {
    const current = this.current;
    if (current && !this.expiresSoon(current)) return current;
    // The shared authentication ignores any one caller's signal: aborting one call must not fail the others.
    this.inflight ??= this.authenticate().finally(() => {
      this.inflight = undefined;
    });
    if (!signal) return this.inflight;
    signal.throwIfAborted();
    return Promise.race([
      this.inflight,
      new Promise<never>((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      ),
    ]);
  }

  invalidate(stale: string): void {
    if (this.current?.id === stale) this.current = undefined;
  }

  /** The URL of a service from the catalog (or an override), e.g. `endpoint('volumev3')`. */
  async endpoint(serviceType: string, signal?: AbortSignal): Promise<string> {
    const token = await this.tokenDetails(signal);
    try {
      return selectEndpoint(token.catalog, serviceType, this.options.endpoints);
    } catch (error) {
      throw authError(error instanceof Error ? error.message : String(error));
    }
  }

  /** Keystone itself, for identity calls (projects, application credentials, token revocation). */
  identityClient(): ServiceClient {
    return new ServiceClient(this.transport, 'identity', identityBase(this.auth.authUrl));
  }

  private expiresSoon(token: Token): boolean {
    const lifetime = token.expiresAt.getTime() - token.issuedAt.getTime();
    const margin = Math.min(this.refreshMarginMs, lifetime / 2);
    return token.expiresAt.getTime() - this.now() <= margin;
  }

  private async authenticate(): Promise<Token> {
    const url = tokensUrl(this.auth.authUrl);
    const response = await this.transport
      .request('identity', 'POST', url, { json: authRequestBody(this.auth), anonymous: true })
      .catch((error: unknown) => {
        throw asAuthenticationFailure(error);
      });
    const id = header(response.headers, 'x-subject-token');
    const parsed = TokenBodySchema.safeParse(response.body);
    if (!id || !parsed.success) {
      throw authError(`identity POST ${url}: answer without a token (status ${response.status})`, {
        service: 'identity',
        method: 'POST',
        url,
      });
    }
    this.authentications++;
    const token = toToken(id, parsed.data, this.now());
    this.current = token;
    this.transport.logger.debug(
      { userId: token.userId, projectId: token.projectId, expiresAt: token.expiresAt.toISOString() },
      'keystone token issued',
    );
    return token;
  }
}

/**
 * Keystone refusing to issue a token is an authentication failure whatever its status: a deleted application
 * credential answers 404 "Could not find Application Credential", and that 404 must never read as "the server
 * (or volume, image…) asked for is gone" to a caller that branches on NotFoundError. Keystone being unreachable
 * or answering 5xx stays retryable (ProviderUnavailableError, ProviderTimeoutError): it may pass.
 */
function asAuthenticationFailure(error: unknown): unknown {
  if (!(error instanceof ProviderError) || error instanceof AuthError || error.retryable) return error;
  const context = openStackContext(error);
  const failure = new AuthError(`authentication failed: ${error.message}`, {
    provider: PROVIDER_NAME,
    status: error.status,
    requestId: error.requestId,
    cause: error,
  });
  return context ? withContext(failure, context) : failure;
}
