/**
 * A small HTTP control plane on the library: instances in JSON, and their status changes streamed to the
 * client as Server-Sent Events.
 *
 *   npx tsx examples/control-plane-http.ts [--port 8080] [--state-dir DIR] [--image-dir DIR]   # libvirt
 *   npx tsx examples/control-plane-http.ts --fake                                             # no VMs
 *
 *   curl -s localhost:8080/instances -d '{"name":"db1","flavor":"small","datastore":{"type":"redis"}}'
 *   curl -s localhost:8080/instances            curl -s localhost:8080/instances/<id>
 *   curl -N localhost:8080/events               curl -s -X DELETE localhost:8080/instances/<id>
 *
 * Routes: POST /instances (202 + the view, BUILD), GET /instances, GET /instances/:id, DELETE /instances/:id,
 * GET /events[?instance=<id>] (text/event-stream: one `status` event per status change, from
 * InstanceService.watch()). Errors: {error: {code, message}} with 400, 404, 409 or 500.
 * `--fake` runs core's FakeProvider with fake guests that speak the real protocol over the real broker.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CorralError,
  InstanceBusyError,
  InstanceNotFoundError,
  type InstanceService,
  type Provider,
  startEmbeddedControlPlane,
} from '@corral/core';
import pino from 'pino';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    fake: { type: 'boolean', default: false },
    'state-dir': { type: 'string' },
    'image-dir': { type: 'string', default: resolve(import.meta.dirname, '..', '.cache', 'guest-image') },
  },
});

const logger = pino({ level: process.env.CORRAL_LOG_LEVEL ?? 'warn' }, pino.destination(2));

/** The provider: libvirt with the micro guest image, or (--fake) fake servers whose fake guests dial the broker. */
async function makeProvider(
  brokerUrl: () => string,
): Promise<{ name: string; provider: Provider; stop(): Promise<void> }> {
  if (args.fake) {
    const { FakeGuestFleet, FakeProvider } = await import('@corral/core/testing');
    const fleet = new FakeGuestFleet({
      get brokerUrl() {
        return brokerUrl();
      },
      heartbeatMs: 1_000,
      prepareMs: 200,
    });
    return { name: 'fake', provider: fleet.wrap(new FakeProvider({ buildMs: 300 })), stop: () => fleet.stopAll() };
  }
  const { corralGuestImage, createLibvirtProvider } = await import('@corral/provider-libvirt');
  const provider = createLibvirtProvider({
    images: [corralGuestImage(args['image-dir'])],
    cdromBus: 'sata',
    logger,
  });
  return { name: 'libvirt', provider, stop: async () => provider.close?.() };
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendError(response: ServerResponse, error: unknown): void {
  const status =
    error instanceof InstanceNotFoundError
      ? 404
      : error instanceof InstanceBusyError
        ? 409
        : error instanceof CorralError
          ? 400 // validation, unknown datastore or flavor: the caller's input
          : 500;
  const code = error instanceof CorralError ? error.code : 'INTERNAL';
  send(response, status, { error: { code, message: error instanceof Error ? error.message : String(error) } });
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

/** Server-Sent Events: each status change of one instance (or all) as `event: status` with the view. */
async function streamEvents(instances: InstanceService, request: IncomingMessage, response: ServerResponse) {
  const instanceId = new URL(request.url ?? '/', 'http://x').searchParams.get('instance') ?? undefined;
  const stop = new AbortController();
  request.on('close', () => stop.abort());
  response.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  response.write(': watching\n\n');
  try {
    for await (const change of instances.watch({ instanceId, signal: stop.signal })) {
      const data = {
        instanceId: change.instanceId,
        status: change.status,
        previous: change.previousStatus,
        view: change.view,
      };
      response.write(`event: status\ndata: ${JSON.stringify(data)}\n\n`);
    }
  } catch (error) {
    if (!stop.signal.aborted) logger.warn({ err: error }, 'event stream ended');
  }
  response.end();
}

async function route(instances: InstanceService, request: IncomingMessage, response: ServerResponse) {
  const path = new URL(request.url ?? '/', 'http://x').pathname;
  const [collection, id, ...rest] = path.split('/').filter(Boolean);
  try {
    if (collection === 'events' && !id && request.method === 'GET')
      return await streamEvents(instances, request, response);
    if (collection !== 'instances' || rest.length > 0)
      return send(response, 404, { error: { code: 'NOT_FOUND', message: path } });
    if (!id && request.method === 'POST') {
      // InstanceService.create validates with CreateInstanceRequestSchema: errors name the field and the rule.
      const body = await readJson(request).catch(() => null);
      if (body === null) return send(response, 400, { error: { code: 'BAD_JSON', message: 'body: must be JSON' } });
      return send(response, 202, await instances.create(body as Parameters<InstanceService['create']>[0]));
    }
    if (!id && request.method === 'GET') return send(response, 200, await instances.list());
    if (id && request.method === 'GET') return send(response, 200, await instances.get(id));
    if (id && request.method === 'DELETE') return send(response, 202, await instances.delete(id));
    send(response, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `${request.method} ${path}` } });
  } catch (error) {
    sendError(response, error);
  }
}

async function main(): Promise<void> {
  let brokerUrl = '';
  const { name, provider, stop } = await makeProvider(() => brokerUrl);
  const embedded = await startEmbeddedControlPlane({
    stateDir: args['state-dir'] ?? join(tmpdir(), `corral-http-${name}`),
    providers: { [name]: provider },
    logger,
    controlPlane: { heartbeat: { intervalSeconds: args.fake ? 1 : 5 } },
  });
  brokerUrl = embedded.broker.url;
  const { instances } = embedded.controlPlane;
  const server = createServer((request, response) => void route(instances, request, response));
  // Loopback only: this example has no authentication.
  await new Promise<void>((done) => server.listen(Number(args.port), '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`control plane (${name}) listening on http://127.0.0.1:${port}\n`);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      server.closeAllConnections();
      server.close();
      void stop()
        .then(() => embedded.close())
        .then(() => provider.close?.())
        .finally(() => process.exit(0));
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`control-plane-http failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
