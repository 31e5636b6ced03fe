import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BadRequestError,
  NotFoundError,
  type ProviderError,
  ProviderUnavailableError,
  QuotaExceededError,
  RateLimitedError,
  UnsupportedError,
} from '../provider/errors.js';
import {
  type CallOptions,
  type CreateServerRequest,
  type Flavor,
  type Image,
  PROVIDER_SPECIFICATION_VERSION,
  type ProviderCapabilities,
  type ProviderV1,
  type Server,
  type ServerStatus,
} from '../provider/types.js';
import { parseCreateServerRequest } from '../provider/validate.js';

/**
 * An in-process provider for tests (like Trove's tests/fakes/nova.py): servers live in a Map, move from BUILD
 * to ACTIVE after `buildMs`, and misbehave on request. Failures are chosen by the server's name, so a test
 * of the task manager can ask for one through the ordinary create request:
 *
 * | name contains   | what happens                                                                    |
 * |-----------------|---------------------------------------------------------------------------------|
 * | `fail-build`    | the server ends in ERROR with a fault ("No valid host was found…", code 500)     |
 * | `fail-create`   | createServer makes the server, then throws ProviderUnavailableError (outcome     |
 * |                 | unknown: a retry with the same idempotency key finds it)                         |
 * | `fail-quota`    | createServer throws QuotaExceededError, nothing is made                          |
 * | `rate-limit`    | the first createServer throws RateLimitedError (retryAfterMs 50), then works     |
 * | `fail-delete`   | deleteServer throws ProviderUnavailableError and keeps the server                |
 * | `fail-reboot`   | rebootServer leaves the server in ERROR with a fault                             |
 * | `slow`          | the build takes `slowBuildMs` instead of `buildMs`                               |
 * | `stuck`         | the server never leaves BUILD                                                    |
 *
 * `failNext(operation, error)` injects a one-off error into the next call of an operation, whatever the name.
 */
export interface FakeProviderOptions {
  name?: string;
  /** Time from create (or reboot/resize) to ACTIVE; default 20 ms. */
  buildMs?: number;
  slowBuildMs?: number;
  /** Delay of every call, to model a remote API; default 0. */
  latencyMs?: number;
  flavors?: Flavor[];
  images?: Image[];
  /** Clock for status transitions; default Date.now. */
  clock?: () => number;
}

type Operation = 'create' | 'get' | 'list' | 'delete' | 'reboot' | 'resize';

interface FakeServer {
  server: Server;
  userData: string;
  /** When the pending transition lands; null when the status is settled. */
  settlesAt: number | null;
  settlesTo: ServerStatus;
  fault?: Server['fault'];
  /** Bits a real provider makes beside the server (disk, seed ISO): the leak check counts them. */
  artifacts: string[];
}

const BUILD_FAULT = { message: 'No valid host was found. There are not enough hosts available.', code: 500 };

export class FakeProvider implements ProviderV1 {
  readonly specificationVersion = PROVIDER_SPECIFICATION_VERSION;
  readonly name: string;
  readonly capabilities: ProviderCapabilities = {
    reboot: true,
    resize: true,
    configDrive: true,
    userData: true,
    events: false,
    volumes: true,
    imageUpload: false,
  };

  private readonly servers = new Map<string, FakeServer>();
  private readonly rateLimited = new Set<string>();
  private readonly injected = new Map<Operation, ProviderError[]>();
  private readonly flavors: Flavor[];
  private readonly images: Image[];
  private readonly clock: () => number;
  /** Every call made, for tests that count them (e.g. idempotent retries). */
  readonly calls: { operation: Operation; target?: string }[] = [];

  constructor(private readonly options: FakeProviderOptions = {}) {
    this.name = options.name ?? 'fake';
    this.clock = options.clock ?? Date.now;
    this.flavors = options.flavors ?? [
      { id: 'f-small', name: 'small', vcpus: 1, ramMb: 512, diskGb: 5 },
      { id: 'f-medium', name: 'medium', vcpus: 2, ramMb: 2048, diskGb: 20 },
    ];
    this.images = options.images ?? [
      { id: 'img-guest', name: 'corral-guest', status: 'active' },
      { id: 'img-debian', name: 'debian-12', status: 'active' },
    ];
  }

  /** The next call of `operation` throws `error` (once). */
  failNext(operation: Operation, error: ProviderError): void {
    const queue = this.injected.get(operation) ?? [];
    queue.push(error);
    this.injected.set(operation, queue);
  }

  /** The user-data a server was given, as the guest would read it from its config drive. */
  bootstrapOf(serverId: string): string {
    return this.entry(serverId).userData;
  }

  /** Everything the fake holds (server ids and their artifacts): empty when nothing leaked. */
  resources(): string[] {
    return [...this.servers.values()].flatMap((s) => [s.server.id, ...s.artifacts]);
  }

  private async enter(operation: Operation, target: string | undefined, options?: CallOptions): Promise<void> {
    this.calls.push({ operation, ...(target !== undefined && { target }) });
    options?.signal?.throwIfAborted();
    if (this.options.latencyMs) await sleep(this.options.latencyMs, undefined, { signal: options?.signal });
    const injected = this.injected.get(operation)?.shift();
    if (injected) throw injected;
  }

  private entry(id: string): FakeServer {
    const entry = this.servers.get(id);
    if (!entry) throw new NotFoundError(`server ${id} not found`, { provider: this.name });
    return entry;
  }

  /** Applies a due transition and returns a copy. */
  private view(entry: FakeServer): Server {
    if (entry.settlesAt !== null && this.clock() >= entry.settlesAt) {
      entry.server.status = entry.settlesTo;
      entry.settlesAt = null;
      if (entry.settlesTo === 'ERROR' && entry.fault) entry.server.fault = entry.fault;
    }
    return structuredClone(entry.server);
  }

  private buildTime(name: string): number {
    return name.includes('slow') ? (this.options.slowBuildMs ?? 2000) : (this.options.buildMs ?? 20);
  }

  private resolve<T extends { id: string; name: string }>(list: T[], ref: string, what: string, field: string): T {
    const found = list.find((item) => item.id === ref || item.name === ref);
    if (!found) {
      throw new BadRequestError(`invalid create request: ${field}: no ${what} "${ref}"`, { provider: this.name });
    }
    return found;
  }

  async createServer(request: CreateServerRequest, options?: CallOptions): Promise<Server> {
    const parsed = parseCreateServerRequest(this.name, request);
    await this.enter('create', parsed.name, options);
    const existing = await this.findServerByIdempotencyKey(parsed.idempotencyKey);
    if (existing) return existing;
    const flavor = this.resolve(this.flavors, parsed.flavor, 'flavor', 'flavor');
    const image = this.resolve(this.images, parsed.image, 'image', 'image');
    if (parsed.name.includes('fail-quota')) {
      throw new QuotaExceededError('quota exceeded for instances: requested 1, quota 0', { provider: this.name });
    }
    if (parsed.name.includes('rate-limit') && !this.rateLimited.has(parsed.idempotencyKey)) {
      this.rateLimited.add(parsed.idempotencyKey);
      throw new RateLimitedError('rate limited', { provider: this.name, retryAfterMs: 50, status: 429 });
    }
    const id = randomUUID();
    const failing = parsed.name.includes('fail-build');
    const entry: FakeServer = {
      server: {
        id,
        name: parsed.name,
        status: 'BUILD',
        idempotencyKey: parsed.idempotencyKey,
        flavor: flavor.id,
        image: image.id,
        addresses: { private: [`10.0.0.${(this.servers.size % 250) + 2}`] },
        metadata: parsed.metadata,
        createdAt: new Date(this.clock()).toISOString(),
        ...(parsed.volumeSizeGb
          ? { volumes: [{ id: `volume-${id}`, serial: `fake-${id.slice(0, 15)}`, sizeGb: parsed.volumeSizeGb }] }
          : {}),
      },
      userData: parsed.bootstrap.userData,
      settlesAt: parsed.name.includes('stuck') ? null : this.clock() + this.buildTime(parsed.name),
      settlesTo: failing ? 'ERROR' : 'ACTIVE',
      ...(failing && { fault: BUILD_FAULT }),
      artifacts: [`disk:${id}`, `seed:${id}`, ...(parsed.volumeSizeGb ? [`volume:${id}`] : [])],
    };
    this.servers.set(id, entry);
    if (parsed.name.includes('fail-create')) {
      throw new ProviderUnavailableError('the compute API answered 503 after accepting the request', {
        provider: this.name,
        status: 503,
      });
    }
    return this.view(entry);
  }

  async getServer(id: string, options?: CallOptions): Promise<Server> {
    await this.enter('get', id, options);
    return this.view(this.entry(id));
  }

  async findServerByIdempotencyKey(key: string, options?: CallOptions): Promise<Server | undefined> {
    options?.signal?.throwIfAborted();
    for (const entry of this.servers.values()) {
      if (entry.server.idempotencyKey === key) return this.view(entry);
    }
    return undefined;
  }

  async listServers(options?: CallOptions): Promise<Server[]> {
    await this.enter('list', undefined, options);
    return [...this.servers.values()].map((entry) => this.view(entry));
  }

  async deleteServer(id: string, options?: CallOptions): Promise<void> {
    await this.enter('delete', id, options);
    const entry = this.entry(id);
    if (entry.server.name.includes('fail-delete')) {
      throw new ProviderUnavailableError(`server ${id} could not be deleted: the hypervisor did not answer`, {
        provider: this.name,
        status: 503,
      });
    }
    this.servers.delete(id);
  }

  async rebootServer(id: string, options?: CallOptions & { hard?: boolean }): Promise<void> {
    await this.enter('reboot', id, options);
    const entry = this.entry(id);
    this.view(entry);
    entry.server.status = options?.hard ? 'HARD_REBOOT' : 'REBOOT';
    entry.settlesAt = this.clock() + this.buildTime(entry.server.name);
    const failing = entry.server.name.includes('fail-reboot');
    entry.settlesTo = failing ? 'ERROR' : 'ACTIVE';
    if (failing) entry.fault = { message: 'reboot failed: domain did not come back', code: 500 };
  }

  async resizeServer(id: string, flavorRef: string, options?: CallOptions): Promise<void> {
    await this.enter('resize', id, options);
    const entry = this.entry(id);
    const flavor = this.flavors.find((f) => f.id === flavorRef || f.name === flavorRef);
    if (!flavor) throw new BadRequestError(`flavor: no flavor "${flavorRef}"`, { provider: this.name });
    if (!this.capabilities.resize) throw new UnsupportedError('resize', { provider: this.name });
    this.view(entry);
    entry.server.status = 'RESIZE';
    entry.server.flavor = flavor.id;
    entry.settlesAt = this.clock() + this.buildTime(entry.server.name);
    entry.settlesTo = 'ACTIVE';
  }

  async listFlavors(): Promise<Flavor[]> {
    return structuredClone(this.flavors);
  }

  async listImages(): Promise<Image[]> {
    return structuredClone(this.images);
  }

  async *watchServer(id: string, options: CallOptions & { intervalMs?: number }): AsyncIterable<Server> {
    let last: string | undefined;
    while (!options.signal?.aborted) {
      let server: Server;
      try {
        server = await this.getServer(id, options);
      } catch (error) {
        if (error instanceof NotFoundError) {
          const previous: Server = last
            ? JSON.parse(last)
            : { id, name: '', status: 'DELETED', addresses: {}, metadata: {} };
          yield { ...previous, status: 'DELETED' };
          return;
        }
        throw error;
      }
      const snapshot = JSON.stringify(server);
      if (snapshot !== last) {
        last = snapshot;
        yield server;
      }
      await sleep(options.intervalMs ?? 20, undefined, { signal: options.signal }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {}
}
