/**
 * A provider served over loopback HTTP, so the crash tests can SIGKILL a worker process while the provider's
 * state (which servers exist) lives on in the parent: the parent serves its FakeProvider (wrapped by the fake
 * guest fleet), the worker child talks to it through `httpProvider`. One POST per call; typed provider errors
 * travel as their code and come back as the same classes.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BadRequestError,
  ConflictError,
  NotFoundError,
  PROVIDER_SPECIFICATION_VERSION,
  type Provider,
  ProviderError,
  ProviderUnavailableError,
  ProvisioningFailedError,
  QuotaExceededError,
  RateLimitedError,
  type Server,
} from '@corral/core';

type Method =
  | 'createServer'
  | 'getServer'
  | 'findServerByIdempotencyKey'
  | 'listServers'
  | 'deleteServer'
  | 'rebootServer'
  | 'resizeServer'
  | 'listFlavors'
  | 'listImages';

export async function serveProvider(provider: Provider): Promise<{ url: string; close(): Promise<void> }> {
  const server: HttpServer = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', async () => {
      const { method, args } = JSON.parse(body) as { method: Method; args: unknown[] };
      try {
        const fn = provider[method] as (...a: unknown[]) => Promise<unknown>;
        const result = await fn.apply(provider, args);
        response.end(JSON.stringify({ ok: true, result: result ?? null }));
      } catch (error) {
        const json =
          error instanceof ProviderError
            ? { ...error.toJSON(), retryAfterMs: (error as { retryAfterMs?: number }).retryAfterMs }
            : { code: 'UNAVAILABLE', message: String(error) };
        response.end(JSON.stringify({ ok: false, error: json }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function toError(error: { code: string; message: string; retryAfterMs?: number; fault?: unknown }): Error {
  const options = { provider: 'fake' };
  switch (error.code) {
    case 'NOT_FOUND':
      return new NotFoundError(error.message, options);
    case 'CONFLICT':
      return new ConflictError(error.message, options);
    case 'QUOTA_EXCEEDED':
      return new QuotaExceededError(error.message, options);
    case 'BAD_REQUEST':
      return new BadRequestError(error.message, options);
    case 'RATE_LIMITED':
      return new RateLimitedError(error.message, { ...options, retryAfterMs: error.retryAfterMs ?? 50 });
    case 'PROVISIONING_FAILED':
      return new ProvisioningFailedError(error.message, {
        ...options,
        fault: (error.fault as { message: string }) ?? { message: error.message },
      });
    default:
      return new ProviderUnavailableError(error.message, options);
  }
}

export function httpProvider(url: string): Provider {
  const call = async <T>(method: Method, ...args: unknown[]): Promise<T> => {
    const response = await fetch(url, { method: 'POST', body: JSON.stringify({ method, args }) });
    const body = (await response.json()) as
      | { ok: true; result: T }
      | { ok: false; error: { code: string; message: string } };
    if (!body.ok) throw toError(body.error);
    return body.result;
  };
  return {
    specificationVersion: PROVIDER_SPECIFICATION_VERSION,
    name: 'fake',
    capabilities: {
      reboot: true,
      resize: true,
      configDrive: true,
      userData: true,
      events: false,
      volumes: true,
      imageUpload: false,
    },
    createServer: (request) => call<Server>('createServer', request),
    getServer: (id) => call<Server>('getServer', id),
    findServerByIdempotencyKey: async (key) =>
      (await call<Server | null>('findServerByIdempotencyKey', key)) ?? undefined,
    listServers: () => call('listServers'),
    deleteServer: (id) => call('deleteServer', id),
    rebootServer: (id, options) => call('rebootServer', id, { hard: options?.hard }),
    resizeServer: (id, flavor) => call('resizeServer', id, flavor),
    listFlavors: () => call('listFlavors'),
    listImages: () => call('listImages'),
  };
}
