import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CallOptions,
  type CreateServerRequest,
  type Flavor,
  type Image,
  NotFoundError,
  PROVIDER_SPECIFICATION_VERSION,
  type ProviderCapabilities,
  type ProviderV1,
  type Server,
  type ServerStatus,
  UnsupportedError,
} from '@corral/core/contract';
import { OpenStackClient } from '../client.js';
import { PROVIDER_NAME } from '../common/errors.js';
import { silentLogger } from '../common/logger.js';
import { collect } from '../common/pagination.js';
import { listFlavors } from '../compute/flavors/requests.js';
import { atLeast } from '../compute/microversion.js';
import {
  confirmResize,
  deleteServer,
  getServer,
  listServers,
  rebootServer,
  resizeServer,
} from '../compute/servers/requests.js';
import type { NovaServer } from '../compute/servers/results.js';
import {
  type CreateImageOptions,
  createImage,
  deleteImage,
  getImage,
  listImages,
  uploadImageData,
} from '../image/images/requests.js';
import { IDEMPOTENCY_METADATA_KEY, toFlavor, toImage, toServer } from './convert.js';
import { createServerFlow } from './create.js';
import type { OpenStackProviderOptions } from './options.js';
import { NameResolver } from './resolve.js';
import { type WaitOptions, waitForGone, waitForStatus } from './wait.js';

export interface UploadImageRequest extends Partial<CreateImageOptions> {
  name: string;
  data: Buffer | Readable;
}

/** ProviderV1 on Nova, plus what only OpenStack offers (waits, image upload, the raw client). */
export interface OpenStackProvider extends ProviderV1 {
  readonly client: OpenStackClient;
  /** Authenticates, negotiates Nova's microversion, and learns from the catalog whether volumes work. */
  connect(options?: CallOptions): Promise<void>;
  /** Waits for a status (default ACTIVE); ERROR ends it at once with a ProvisioningFailedError carrying Nova's fault. */
  waitForServer(id: string, options?: WaitOptions & { status?: ServerStatus }): Promise<Server>;
  uploadImage(request: UploadImageRequest, options?: CallOptions): Promise<Image>;
  deleteImage(id: string, options?: CallOptions): Promise<void>;
  /** The user_data the server was created with, decoded (admin, microversion >= 2.3). */
  getServerUserData(id: string, options?: CallOptions): Promise<string | undefined>;
}

export function createOpenStackProvider(options: OpenStackProviderOptions = {}): OpenStackProvider {
  const client = new OpenStackClient(options);
  const logger = options.logger ?? silentLogger;
  const resolver = new NameResolver();
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const capabilities: ProviderCapabilities = {
    reboot: true,
    resize: options.resize ?? false,
    configDrive: true,
    userData: true,
    events: false,
    volumes: true,
    imageUpload: true,
  };

  const fetchServer = async (id: string, signal?: AbortSignal): Promise<Server> =>
    toServer(await getServer(await client.compute({ signal }), id, signal));

  const findByKey = async (key: string, name?: string, signal?: AbortSignal): Promise<NovaServer | undefined> => {
    const compute = await client.compute({ signal });
    // Nova cannot filter on metadata; the name (a regex there) narrows the listing when we know it.
    for await (const server of listServers(compute, { query: { name }, signal })) {
      if (server.metadata[IDEMPOTENCY_METADATA_KEY] === key && (name === undefined || server.name === name))
        return server;
    }
    return undefined;
  };

  const provider: OpenStackProvider = {
    specificationVersion: PROVIDER_SPECIFICATION_VERSION,
    name: PROVIDER_NAME,
    capabilities,
    client,

    async connect(callOptions = {}) {
      await client.compute({ signal: callOptions.signal });
      capabilities.volumes = await client.hasService('block-storage', callOptions.signal);
    },

    createServer(request: CreateServerRequest, callOptions: CallOptions = {}) {
      return createServerFlow(
        { client, resolver, options, logger, findByKey, getServer: fetchServer },
        request,
        callOptions.signal,
      );
    },

    getServer: (id, callOptions = {}) => fetchServer(id, callOptions.signal),

    async findServerByIdempotencyKey(key, callOptions = {}) {
      const server = await findByKey(key, undefined, callOptions.signal);
      return server ? toServer(server) : undefined;
    },

    async listServers(callOptions = {}) {
      const compute = await client.compute({ signal: callOptions.signal });
      return (await collect(listServers(compute, { signal: callOptions.signal }))).map(toServer);
    },

    async deleteServer(id, callOptions = {}) {
      await deleteServer(await client.compute({ signal: callOptions.signal }), id, callOptions.signal);
      if ((options.deleteTimeoutMs ?? 120_000) > 0) {
        // Nova's raw status: DELETED (still listed) is not gone yet; see waitForGone.
        const novaStatus = async (serverId: string, signal?: AbortSignal) =>
          getServer(await client.compute({ signal }), serverId, signal);
        await waitForGone(novaStatus, id, {
          timeoutMs: options.deleteTimeoutMs,
          intervalMs: Math.min(pollIntervalMs, 500),
          signal: callOptions.signal,
        });
      }
    },

    async rebootServer(id, callOptions = {}) {
      await rebootServer(
        await client.compute({ signal: callOptions.signal }),
        id,
        callOptions.hard ? 'HARD' : 'SOFT',
        callOptions.signal,
      );
    },

    async resizeServer(id, flavor, callOptions = {}) {
      if (!capabilities.resize) {
        throw new UnsupportedError(
          'resize is off for this provider (enable with { resize: true } where the cloud can resize)',
          { provider: PROVIDER_NAME },
        );
      }
      const compute = await client.compute({ signal: callOptions.signal });
      await resizeServer(compute, id, await resolver.flavor(compute, flavor, callOptions.signal), callOptions.signal);
      await waitForStatus(fetchServer, id, 'VERIFY_RESIZE', { intervalMs: pollIntervalMs, signal: callOptions.signal });
      await confirmResize(compute, id, callOptions.signal);
    },

    async listFlavors(callOptions = {}): Promise<Flavor[]> {
      const compute = await client.compute({ signal: callOptions.signal });
      return (await collect(listFlavors(compute, { signal: callOptions.signal }))).map(toFlavor);
    },

    async listImages(callOptions = {}): Promise<Image[]> {
      const image = await client.image(callOptions.signal);
      return (await collect(listImages(image, { signal: callOptions.signal }))).map(toImage);
    },

    waitForServer(id, waitOptions = {}) {
      return waitForStatus(fetchServer, id, waitOptions.status ?? 'ACTIVE', {
        intervalMs: pollIntervalMs,
        ...waitOptions,
      });
    },

    async *watchServer(id, watchOptions) {
      const interval = watchOptions.intervalMs ?? pollIntervalMs;
      let last: string | undefined;
      while (!watchOptions.signal?.aborted) {
        let server: Server;
        try {
          server = await fetchServer(id, watchOptions.signal);
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
          if (last !== undefined) yield { id, name: '', status: 'DELETED', addresses: {}, metadata: {} };
          return;
        }
        const fingerprint = JSON.stringify([
          server.status,
          server.fault,
          server.addresses,
          server.metadata,
          server.name,
        ]);
        if (fingerprint !== last) {
          last = fingerprint;
          yield server;
        }
        if (server.status === 'DELETED') return;
        try {
          await sleep(interval, undefined, { signal: watchOptions.signal });
        } catch {
          return; // aborted
        }
      }
    },

    async uploadImage(request, callOptions = {}) {
      const glance = await client.image(callOptions.signal);
      const created = await createImage(glance, { ...request, diskFormat: request.diskFormat ?? 'raw' });
      try {
        await uploadImageData(glance, created.id, request.data, { signal: callOptions.signal });
        return toImage(await getImage(glance, created.id, callOptions.signal));
      } catch (error) {
        await deleteImage(glance, created.id).catch(() => undefined);
        throw error;
      }
    },

    async deleteImage(id, callOptions = {}) {
      await deleteImage(await client.image(callOptions.signal), id, callOptions.signal);
    },

    async getServerUserData(id, callOptions = {}) {
      await client.compute({ signal: callOptions.signal });
      const version = atLeast(client.computeMicroversion, '2.3') ? client.computeMicroversion : '2.3';
      const server = await getServer(
        await client.compute({ microversion: version, signal: callOptions.signal }),
        id,
        callOptions.signal,
      );
      const encoded = server['OS-EXT-SRV-ATTR:user_data'];
      return encoded ? Buffer.from(encoded, 'base64').toString('utf8') : undefined;
    },

    async close() {
      // got keeps no state of its own; sockets idle out of the shared agent.
    },
  };
  return provider;
}
