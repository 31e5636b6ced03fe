import { randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An in-process OpenStack for unit tests and the benchmark: Keystone, Nova, Glance, Neutron and Cinder on one
 * loopback port, answering with the shapes recorded from a real Zed cloud (docs: shared notes). It is a fake:
 * servers go BUILD → ACTIVE on a timer, nothing boots. Integration suites use the real cloud instead.
 */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  token?: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export type FakeReply =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { drop: 'before' | 'after' };

export interface FakeCloudOptions {
  /** How long a server stays in BUILD (ms). */
  activeAfterMs?: number;
  deleteAfterMs?: number;
  tokenLifetimeMs?: number;
  maxMicroversion?: string;
  /** Leave Cinder out of the catalog. */
  withoutCinder?: boolean;
  /** Host RAM in MB: a flavor asking for more fails to schedule ("No valid host was found."). */
  hostRamMb?: number;
}

interface FakeServerRecord {
  id: string;
  name: string;
  flavorId: string;
  imageId: string;
  metadata: Record<string, string>;
  userData?: string;
  created: number;
  deletedAt?: number;
  status?: 'ERROR';
  rebootUntil?: number;
  networks: unknown;
}

export const FAKE_PROJECT_ID = 'f00dfeed000000000000000000000001';
export const FAKE_USER_ID = 'u5e2000000000000000000000000001';

export class FakeCloud {
  readonly requests: FakeRequest[] = [];
  readonly servers = new Map<string, FakeServerRecord>();
  readonly images = new Map<string, Record<string, unknown>>();
  readonly volumes = new Map<string, Record<string, unknown>>();
  readonly flavors = [
    { id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1 },
    { id: '2', name: 'm1.small', vcpus: 1, ram: 2048, disk: 20 },
    { id: '99', name: 'm1.huge', vcpus: 64, ram: 10_000_000, disk: 1000 },
  ];
  readonly networks = [
    { id: '5b7c1d6e-0000-4000-8000-000000000001', name: 'corral-net', status: 'ACTIVE', subnets: [] },
  ];
  readonly validTokens = new Map<string, number>();
  quotaInstances = Number.POSITIVE_INFINITY;
  authCount = 0;
  private interceptors: ((request: FakeRequest) => FakeReply | undefined)[] = [];
  private server?: HttpServer;
  private tokenCounter = 0;
  url = '';

  constructor(readonly options: FakeCloudOptions = {}) {
    const id = '0b0e0000-0000-4000-8000-000000000001';
    this.images.set(id, {
      id,
      name: 'corral-test-image',
      status: 'active',
      size: 1024,
      disk_format: 'raw',
      container_format: 'bare',
      visibility: 'public',
    });
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      });
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  get authUrl(): string {
    return `${this.url}/identity/v3`;
  }

  /** Answers (or drops) matching requests instead of the fake's own logic; return undefined to pass. */
  intercept(interceptor: (request: FakeRequest) => FakeReply | undefined): () => void {
    this.interceptors.push(interceptor);
    return () => {
      this.interceptors = this.interceptors.filter((candidate) => candidate !== interceptor);
    };
  }

  revokeAllTokens(): void {
    this.validTokens.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', this.url);
    const isJson = (req.headers['content-type'] ?? '').includes('json');
    const request: FakeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      token: req.headers['x-auth-token'] as string | undefined,
      headers: req.headers,
      body: isJson && raw.length > 0 ? JSON.parse(raw.toString('utf8')) : raw,
    };
    this.requests.push(request);
    let dropAfter = false;
    for (const interceptor of this.interceptors) {
      const reply = interceptor(request);
      if (!reply) continue;
      if ('drop' in reply) {
        if (reply.drop === 'before') {
          req.socket.destroy();
          return;
        }
        dropAfter = true;
        break;
      }
      return send(res, reply.status, reply.body, reply.headers);
    }
    const reply = this.route(request);
    if (dropAfter) {
      req.socket.destroy();
      return;
    }
    const wantsHtml =
      request.path.startsWith('/image') && reply.status >= 400 && !(req.headers.accept ?? '').includes('json');
    if (wantsHtml)
      return send(
        res,
        reply.status,
        `<html><body><h1>${reply.status}</h1>${JSON.stringify(reply.body)}</body></html>`,
        { 'content-type': 'text/html' },
      );
    send(res, reply.status, reply.body, reply.headers);
  }

  private route(request: FakeRequest): { status: number; body?: unknown; headers?: Record<string, string> } {
    const { method, path } = request;
    if (path === '/identity/v3/auth/tokens' && method === 'POST') return this.issueToken(request.body);
    const expiry = request.token ? this.validTokens.get(request.token) : undefined;
    const versionDocument = method === 'GET' && path === '/compute/v2.1';
    if (!versionDocument && (expiry === undefined || expiry < Date.now())) {
      return {
        status: 401,
        body: {
          error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' },
        },
      };
    }
    if (path === '/identity/v3/auth/tokens' && method === 'DELETE') {
      this.validTokens.delete(String(request.headers['x-subject-token']));
      return { status: 204 };
    }
    if (path.startsWith('/compute/v2.1')) return this.compute(request, path.slice('/compute/v2.1'.length));
    if (path.startsWith('/image/v2/images')) return this.image(request, path.slice('/image/v2/images'.length));
    if (path === '/network/v2.0/networks') {
      const name = request.query.get('name');
      return { status: 200, body: { networks: this.networks.filter((network) => !name || network.name === name) } };
    }
    if (path.startsWith(`/volume/v3/${FAKE_PROJECT_ID}/volumes`))
      return this.volume(request, path.slice(`/volume/v3/${FAKE_PROJECT_ID}/volumes`.length));
    return notFound('Resource could not be found.');
  }

  private issueToken(body: unknown): { status: number; body?: unknown; headers?: Record<string, string> } {
    const identity = (body as { auth?: { identity?: Record<string, unknown> } }).auth?.identity ?? {};
    const password = (identity.password as { user?: { password?: string } } | undefined)?.user?.password;
    const secret = (identity.application_credential as { secret?: string } | undefined)?.secret;
    if (password !== 'secret' && secret !== 'app-secret') {
      return {
        status: 401,
        body: {
          error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' },
        },
      };
    }
    this.authCount++;
    const token = `fake-token-${++this.tokenCounter}`;
    const lifetime = this.options.tokenLifetimeMs ?? 3_600_000;
    const now = Date.now();
    this.validTokens.set(token, now + lifetime);
    const endpoint = (type: string, path: string) => ({
      type,
      endpoints: ['public', 'internal', 'admin'].map((iface) => ({
        interface: iface,
        region: 'RegionOne',
        region_id: 'RegionOne',
        url: `${this.url}${path}`,
      })),
    });
    const catalog = [
      endpoint('identity', '/identity/v3'),
      endpoint('compute', '/compute/v2.1'),
      endpoint('image', '/image'),
      endpoint('network', '/network'),
      endpoint('placement', '/placement'),
      ...(this.options.withoutCinder
        ? []
        : [
            endpoint('volumev3', `/volume/v3/${FAKE_PROJECT_ID}`),
            endpoint('block-storage', `/volume/v3/${FAKE_PROJECT_ID}`),
          ]),
    ];
    return {
      status: 201,
      headers: { 'x-subject-token': token },
      body: {
        token: {
          methods: ['password'],
          expires_at: new Date(now + lifetime).toISOString(),
          issued_at: new Date(now).toISOString(),
          user: { id: FAKE_USER_ID, name: 'demo', domain: { id: 'default', name: 'Default' } },
          project: { id: FAKE_PROJECT_ID, name: 'demo', domain: { id: 'default', name: 'Default' } },
          roles: [{ id: 'r1', name: 'member' }],
          catalog,
        },
      },
    };
  }

  private compute(
    request: FakeRequest,
    rest: string,
  ): { status: number; body?: unknown; headers?: Record<string, string> } {
    const { method } = request;
    if (rest === '' && method === 'GET') {
      return {
        status: 200,
        body: {
          version: {
            id: 'v2.1',
            status: 'CURRENT',
            version: this.options.maxMicroversion ?? '2.93',
            min_version: '2.1',
          },
        },
      };
    }
    if (rest === '/flavors/detail')
      return { status: 200, body: page(this.flavors, request, `${this.url}/compute/v2.1/flavors/detail`, 'flavors') };
    const flavor = /^\/flavors\/([^/]+)$/.exec(rest);
    if (flavor) {
      const found = this.flavors.find((candidate) => candidate.id === flavor[1]);
      return found ? { status: 200, body: { flavor: found } } : notFound(`Flavor ${flavor[1]} could not be found.`);
    }
    if (rest === '/servers' && method === 'POST') return this.createServer(request);
    if (rest === '/servers/detail') {
      const name = request.query.get('name');
      const all = [...this.servers.values()].filter(
        (server) => this.state(server) !== 'GONE' && (!name || new RegExp(name).test(server.name)),
      );
      return {
        status: 200,
        body: page(
          all.map((server) => this.view(server)),
          request,
          `${this.url}/compute/v2.1/servers/detail`,
          'servers',
        ),
      };
    }
    const match = /^\/servers\/([^/]+)(\/action)?$/.exec(rest);
    const server = match?.[1] ? this.servers.get(match[1]) : undefined;
    if (!match || !server || this.state(server) === 'GONE')
      return notFound(`Instance ${match?.[1] ?? ''} could not be found.`);
    if (match[2] && method === 'POST') {
      server.rebootUntil = Date.now() + 20;
      return { status: 202 };
    }
    if (method === 'GET') return { status: 200, body: { server: this.view(server) } };
    if (method === 'DELETE') {
      server.deletedAt ??= Date.now();
      return { status: 204 };
    }
    return { status: 405, body: { error: { message: 'method not allowed' } } };
  }

  private createServer(request: FakeRequest) {
    const body = (request.body as { server?: Record<string, unknown> }).server ?? {};
    const live = [...this.servers.values()].filter((server) => this.state(server) !== 'GONE').length;
    if (live + 1 > this.quotaInstances) {
      return {
        status: 403,
        body: {
          forbidden: {
            code: 403,
            message: `Quota exceeded for instances: Requested 1, but already used ${live} of ${this.quotaInstances} instances`,
          },
        },
      };
    }
    if (body.networks === undefined)
      return { status: 400, body: { badRequest: { code: 400, message: "'networks' is a required property" } } };
    const flavor = this.flavors.find((candidate) => candidate.id === body.flavorRef);
    if (!flavor)
      return {
        status: 400,
        body: { badRequest: { code: 400, message: `Flavor ${String(body.flavorRef)} could not be found.` } },
      };
    if (!this.images.has(String(body.imageRef)))
      return { status: 400, body: { badRequest: { code: 400, message: 'Can not find requested image' } } };
    const id = randomUUID();
    this.servers.set(id, {
      id,
      name: String(body.name),
      flavorId: flavor.id,
      imageId: String(body.imageRef),
      metadata: (body.metadata as Record<string, string>) ?? {},
      userData: body.user_data as string | undefined,
      created: Date.now(),
      status: flavor.ram > (this.options.hostRamMb ?? 8192) ? 'ERROR' : undefined,
      networks: body.networks,
    });
    return {
      status: 202,
      headers: { location: `${this.url}/compute/v2.1/servers/${id}` },
      body: {
        server: {
          id,
          links: [],
          'OS-DCF:diskConfig': 'MANUAL',
          security_groups: [{ name: 'default' }],
          adminPass: 'x',
        },
      },
    };
  }

  private state(server: FakeServerRecord): 'BUILD' | 'ACTIVE' | 'ERROR' | 'REBOOT' | 'GONE' {
    const now = Date.now();
    if (server.deletedAt !== undefined)
      return now - server.deletedAt >= (this.options.deleteAfterMs ?? 30) ? 'GONE' : 'ACTIVE';
    if (now - server.created < (this.options.activeAfterMs ?? 50)) return 'BUILD';
    if (server.status === 'ERROR') return 'ERROR';
    if (server.rebootUntil && now < server.rebootUntil) return 'REBOOT';
    return 'ACTIVE';
  }

  private view(server: FakeServerRecord): { id: string } & Record<string, unknown> {
    const status = this.state(server);
    const flavor = this.flavors.find((candidate) => candidate.id === server.flavorId);
    return {
      id: server.id,
      name: server.name,
      status,
      metadata: server.metadata,
      addresses:
        status === 'ACTIVE' && Array.isArray(server.networks)
          ? { 'corral-net': [{ addr: '10.0.0.5', version: 4 }] }
          : {},
      flavor: { original_name: flavor?.name, vcpus: flavor?.vcpus, ram: flavor?.ram, disk: flavor?.disk },
      image: { id: server.imageId },
      created: new Date(server.created).toISOString(),
      'OS-EXT-SRV-ATTR:user_data': server.userData ?? null,
      ...(status === 'ERROR'
        ? { fault: { code: 500, created: new Date().toISOString(), message: 'No valid host was found. ' } }
        : {}),
    };
  }

  private image(
    request: FakeRequest,
    rest: string,
  ): { status: number; body?: unknown; headers?: Record<string, string> } {
    const { method } = request;
    if (rest === '' && method === 'GET') {
      const name = request.query.get('name');
      const all = [...this.images.values()].filter((image) => !name || image.name === name);
      const limit = Number(request.query.get('limit') ?? 25);
      const marker = request.query.get('marker');
      const start = marker ? all.findIndex((image) => image.id === marker) + 1 : 0;
      const slice = all.slice(start, start + limit);
      const last = slice.at(-1);
      const next =
        start + limit < all.length && last ? `/v2/images?limit=${limit}&marker=${String(last.id)}` : undefined;
      return { status: 200, body: { images: slice, first: '/v2/images', ...(next ? { next } : {}) } };
    }
    if (rest === '' && method === 'POST') {
      const body = request.body as Record<string, unknown>;
      const id = randomUUID();
      const image = { ...body, id, status: 'queued', size: null, visibility: body.visibility ?? 'shared' };
      this.images.set(id, image);
      return { status: 201, body: image };
    }
    const match = /^\/([^/]+)(\/file)?$/.exec(rest);
    const image = match?.[1] ? this.images.get(match[1]) : undefined;
    if (!match || !image)
      return {
        status: 404,
        body: {
          message: `No image found with ID ${match?.[1] ?? ''}<br /><br />`,
          code: '404 Not Found',
          title: 'Not Found',
        },
      };
    if (match[2] && method === 'PUT') {
      image.status = 'active';
      image.size = Buffer.isBuffer(request.body) ? request.body.length : 0;
      return { status: 204 };
    }
    if (method === 'GET') return { status: 200, body: image };
    if (method === 'DELETE') {
      this.images.delete(image.id as string);
      return { status: 204 };
    }
    return { status: 405 };
  }

  private volume(request: FakeRequest, rest: string): { status: number; body?: unknown } {
    if (rest === '' && request.method === 'POST') {
      const body = (request.body as { volume: Record<string, unknown> }).volume;
      const id = randomUUID();
      const volume = {
        id,
        name: body.name,
        size: body.size,
        metadata: body.metadata ?? {},
        status: 'available',
        attachments: [],
      };
      this.volumes.set(id, volume);
      return { status: 202, body: { volume: { ...volume, status: 'creating' } } };
    }
    const id = rest.slice(1);
    const volume = this.volumes.get(id);
    if (!volume) return notFound(`Volume ${id} could not be found.`);
    if (request.method === 'DELETE') {
      this.volumes.delete(id);
      return { status: 202 };
    }
    return { status: 200, body: { volume } };
  }
}

function page<T extends { id: string }>(
  items: T[],
  request: FakeRequest,
  base: string,
  key: string,
): Record<string, unknown> {
  const limit = Number(request.query.get('limit') ?? 1000);
  const marker = request.query.get('marker');
  const start = marker ? items.findIndex((item) => item.id === marker) + 1 : 0;
  const slice = items.slice(start, start + limit);
  const body: Record<string, unknown> = { [key]: slice };
  const last = slice.at(-1);
  if (last && slice.length === limit)
    body[`${key}_links`] = [{ rel: 'next', href: `${base}?limit=${limit}&marker=${last.id}` }];
  return body;
}

function notFound(message: string) {
  return { status: 404, body: { itemNotFound: { code: 404, message } } };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const requestId = `req-${randomUUID()}`;
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/html' : 'application/json',
    'x-openstack-request-id': requestId,
    'x-compute-request-id': requestId,
    ...headers,
  });
  res.end(text);
}
