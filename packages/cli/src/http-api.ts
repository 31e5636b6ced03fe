import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CorralError,
  CreateInstanceRequestSchema,
  InstanceBusyError,
  InstanceNotFoundError,
  type InstanceService,
  ValidationError,
} from '@corral/core';
import * as z from 'zod';

/**
 * The daemon's small JSON API on 127.0.0.1, which `corral instance ...` talks to:
 *   POST /instances · GET /instances · GET /instances/:id · DELETE /instances/:id · POST /instances/:id/restart
 * Errors are `{error: {code, message}}` with 400 (bad input), 404 (unknown instance), 409 (busy), 500.
 */

const IdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be letters, digits, "_" or "-"');
const MAX_BODY = 64 * 1024;

export interface ApiError {
  status: number;
  code: string;
  message: string;
}

function toApiError(error: unknown): ApiError {
  if (error instanceof InstanceNotFoundError) return { status: 404, code: error.code, message: error.message };
  if (error instanceof InstanceBusyError) return { status: 409, code: error.code, message: error.message };
  if (error instanceof ValidationError) return { status: 400, code: error.code, message: error.message };
  if (error instanceof CorralError && /NOT_FOUND/.test(error.code))
    return { status: 400, code: error.code, message: error.message };
  if (error instanceof CorralError) return { status: 400, code: error.code, message: error.message };
  return { status: 500, code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ValidationError(`body: must be at most ${MAX_BODY} bytes`, []);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new ValidationError('body: must be a JSON document', [{ path: '(root)', message: 'must be JSON' }]);
  }
}

export async function handleApiRequest(
  instances: InstanceService,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const parts = url.pathname.split('/').filter(Boolean);
  try {
    if (parts[0] !== 'instances' || parts.length > 3) return send(response, 404, notFound(url.pathname));
    if (parts.length === 1) {
      if (request.method === 'POST') {
        const parsed = CreateInstanceRequestSchema.safeParse(await readJson(request));
        if (!parsed.success) throw ValidationError.fromZod('instance', parsed.error);
        return send(response, 202, await instances.create(parsed.data));
      }
      if (request.method === 'GET') {
        const limit = url.searchParams.get('limit');
        return send(response, 200, await instances.list(limit ? { limit: Number(limit) } : {}));
      }
    }
    const id = IdSchema.safeParse(parts[1]);
    if (!id.success) throw ValidationError.fromZod('instance id', id.error);
    if (parts.length === 2 && request.method === 'GET')
      return send(response, 200, await instances.get(id.data, { includeDeleted: url.searchParams.has('deleted') }));
    if (parts.length === 2 && request.method === 'DELETE') return send(response, 202, await instances.delete(id.data));
    if (parts.length === 3 && parts[2] === 'restart' && request.method === 'POST')
      return send(response, 202, await instances.restart(id.data));
    return send(response, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `${request.method} ${url.pathname}` } });
  } catch (error) {
    const failure = toApiError(error);
    send(response, failure.status, { error: { code: failure.code, message: failure.message } });
  }
}

function notFound(path: string) {
  return { error: { code: 'NOT_FOUND', message: `no route ${path}` } };
}

export interface ApiServer {
  url: string;
  close(): Promise<void>;
}

/** Serves the API on 127.0.0.1 (loopback only: the API has no authentication). */
export async function startApiServer(instances: InstanceService, port = 0): Promise<ApiServer> {
  const server: Server = createServer((request, response) => {
    void handleApiRequest(instances, request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
