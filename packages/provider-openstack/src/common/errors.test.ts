import {
  AuthError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  QuotaExceededError,
  RateLimitedError,
} from '@corral/core/contract';
import { describe, expect, it } from 'vitest';
import { errorFromResponse, extractMessage, isAmbiguousFailure, openStackContext, parseRetryAfter } from './errors.js';

const at = { service: 'compute', method: 'POST', url: 'http://127.0.0.1:8774/v2.1/servers', requestId: 'req-1' };

describe('extractMessage', () => {
  it('reads every error shape OpenStack sends', () => {
    expect(extractMessage({ itemNotFound: { code: 404, message: 'Instance x could not be found.' } })).toBe(
      'Instance x could not be found.',
    );
    expect(extractMessage({ error: { code: 401, title: 'Unauthorized', message: 'needs auth' } })).toBe('needs auth');
    expect(extractMessage({ message: 'No image found with ID 1<br /><br />', code: '404 Not Found' })).toBe(
      'No image found with ID 1',
    );
    expect(
      extractMessage({ NeutronError: { type: 'NetworkNotFound', message: 'Network n could not be found.' } }),
    ).toBe('Network n could not be found.');
    expect(extractMessage('<html><body><h1>404 Not Found</h1>gone</body></html>')).toBe('404 Not Found gone');
  });
});

describe('errorFromResponse', () => {
  it('maps Nova quota 403 to QuotaExceededError and keeps service, method, url and request id', () => {
    const error = errorFromResponse({
      ...at,
      status: 403,
      body: {
        forbidden: {
          code: 403,
          message: 'Quota exceeded for instances: Requested 1, but already used 3 of 3 instances',
        },
      },
    });
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect(error.requestId).toBe('req-1');
    expect(error.status).toBe(403);
    expect(openStackContext(error)).toMatchObject({ service: 'compute', method: 'POST', url: at.url });
    expect(error.message).toContain('Quota exceeded for instances');
    expect(error.toJSON()).toMatchObject({ service: 'compute', code: 'QUOTA_EXCEEDED' });
  });

  it('maps the other statuses to their classes', () => {
    const map = (status: number, message = 'x', retryAfterMs?: number) =>
      errorFromResponse({ ...at, status, body: { e: { message } }, retryAfterMs });
    expect(map(400)).toBeInstanceOf(BadRequestError);
    expect(map(401)).toBeInstanceOf(AuthError);
    expect(map(403, 'Policy does not allow')).toBeInstanceOf(AuthError);
    expect(map(404)).toBeInstanceOf(NotFoundError);
    expect(map(409)).toBeInstanceOf(ConflictError);
    expect(map(413)).toBeInstanceOf(QuotaExceededError);
    const limited = map(429, 'slow down', 2000);
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(2000);
    expect(map(503)).toBeInstanceOf(ProviderUnavailableError);
    expect(map(504)).toBeInstanceOf(ProviderTimeoutError);
    expect(map(400, 'Maximum number of metadata items exceeds 128')).toBeInstanceOf(QuotaExceededError);
  });

  it('calls 5xx and lost answers ambiguous, certain failures not', () => {
    expect(isAmbiguousFailure(errorFromResponse({ ...at, status: 500, body: undefined }))).toBe(true);
    expect(isAmbiguousFailure(errorFromResponse({ ...at, status: 400, body: undefined }))).toBe(false);
    const refused = new ProviderUnavailableError('no', {
      provider: 'openstack',
      cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
    });
    expect(isAmbiguousFailure(refused)).toBe(false);
    const reset = new ProviderUnavailableError('no', {
      provider: 'openstack',
      cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
    });
    expect(isAmbiguousFailure(reset)).toBe(true);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
