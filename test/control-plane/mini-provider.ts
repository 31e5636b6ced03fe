/**
 * A small in-memory provider for the control-plane suites, with failure injection by server name:
 *   `server-error`   the server goes to ERROR with a fault shortly after create;
 *   `create-refused` createServer throws a BadRequestError (the provider refused);
 *   `delete-fails`   deleteServer throws ProviderUnavailableError (not retryable here: the delete ends in error).
 * It keeps every server ever made, so a test can count duplicates and leaks.
 */
import {
  BadRequestError,
  type CreateServerRequest,
  type Flavor,
  NotFoundError,
  PROVIDER_SPECIFICATION_VERSION,
  type ProviderV1,
  type Server,
} from '@corral/core';

export class MiniProvider implements ProviderV1 {
  readonly specificationVersion = PROVIDER_SPECIFICATION_VERSION;
  readonly name = 'fake';
  readonly capabilities = {
    reboot: true,
    resize: true,
    configDrive: true,
    userData: true,
    events: false,
    volumes: true,
    imageUpload: false,
  };
  readonly servers = new Map<string, Server>();
  /** Every create that made a server (duplicates would show here). */
  readonly created: string[] = [];
  #next = 1;

  async createServer(request: CreateServerRequest): Promise<Server> {
    const existing = await this.findServerByIdempotencyKey(request.idempotencyKey);
    if (existing) return existing;
    if (request.name.includes('create-refused')) {
      throw new BadRequestError('injected: the provider refuses this request', { provider: this.name });
    }
    const id = `srv-${this.#next++}`;
    const server: Server = {
      id,
      name: request.name,
      status: 'BUILD',
      idempotencyKey: request.idempotencyKey,
      flavor: request.flavor,
      image: request.image,
      addresses: {},
      metadata: request.metadata ?? {},
    };
    this.servers.set(id, server);
    this.created.push(id);
    setTimeout(() => {
      const current = this.servers.get(id);
      if (!current || current.status !== 'BUILD') return;
      if (request.name.includes('server-error')) {
        current.status = 'ERROR';
        current.fault = { message: 'injected: no valid host was found', code: 500 };
      } else {
        current.status = 'ACTIVE';
      }
    }, 20);
    return { ...server };
  }

  async getServer(id: string): Promise<Server> {
    const server = this.servers.get(id);
    if (!server) throw new NotFoundError(`no server ${id}`, { provider: this.name });
    return { ...server };
  }

  async findServerByIdempotencyKey(key: string): Promise<Server | undefined> {
    const server = [...this.servers.values()].find((s) => s.idempotencyKey === key);
    return server ? { ...server } : undefined;
  }

  async listServers(): Promise<Server[]> {
    return [...this.servers.values()].map((s) => ({ ...s }));
  }

  async deleteServer(id: string): Promise<void> {
    const server = this.servers.get(id);
    if (!server) throw new NotFoundError(`no server ${id}`, { provider: this.name });
    if (server.name.includes('delete-fails')) {
      throw new BadRequestError('injected: delete refused', { provider: this.name });
    }
    this.servers.delete(id);
  }

  async rebootServer(id: string): Promise<void> {
    await this.getServer(id);
  }

  async resizeServer(id: string, flavor: string): Promise<void> {
    const server = this.servers.get(id);
    if (!server) throw new NotFoundError(`no server ${id}`, { provider: this.name });
    server.flavor = flavor;
  }

  async listFlavors(): Promise<Flavor[]> {
    return [
      { id: 'small', name: 'small', vcpus: 1, ramMb: 512, diskGb: 5 },
      { id: 'large', name: 'large', vcpus: 2, ramMb: 2048, diskGb: 10 },
    ];
  }

  async listImages() {
    return [{ id: 'corral-guest', name: 'corral-guest', status: 'active' }];
  }
}
