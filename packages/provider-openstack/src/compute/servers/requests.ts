import { BadRequestError } from '@corral/core/contract';
import { PROVIDER_NAME } from '../../common/errors.js';
import type { RequestOptions, ServiceClient } from '../../common/http.js';
import { type PageOptions, paginate } from '../../common/pagination.js';
import {
  ConsoleOutputSchema,
  type CreatedServer,
  CreatedServerSchema,
  type NovaServer,
  NovaServerSchema,
} from './results.js';
import { serverActionUrl, serversDetailUrl, serversUrl, serverUrl } from './urls.js';

export interface BlockDeviceMapping {
  source_type: 'blank' | 'image' | 'volume' | 'snapshot';
  destination_type: 'volume' | 'local';
  uuid?: string;
  volume_size?: number;
  boot_index: number;
  delete_on_termination?: boolean;
}

export interface CreateServerOptions {
  name: string;
  imageRef: string;
  flavorRef: string;
  /** Network ids, or "none"/"auto" (microversion >= 2.37 requires the field). */
  networks?: string[] | 'none' | 'auto';
  /** Already base64-encoded. */
  userData?: string;
  configDrive?: boolean;
  metadata?: Record<string, string>;
  availabilityZone?: string;
  /** Microversion >= 2.52. */
  tags?: string[];
  blockDevices?: BlockDeviceMapping[];
}

/** POST /servers: answers 202 at once; the server builds in the background. Never retried blindly. */
export async function createServer(
  compute: ServiceClient,
  options: CreateServerOptions,
  signal?: AbortSignal,
  request: Pick<RequestOptions, 'resendOnClosedConnection'> = {},
): Promise<CreatedServer> {
  const server: Record<string, unknown> = {
    name: options.name,
    imageRef: options.imageRef,
    flavorRef: options.flavorRef,
  };
  if (options.networks !== undefined) {
    server.networks = Array.isArray(options.networks) ? options.networks.map((uuid) => ({ uuid })) : options.networks;
  }
  if (options.userData !== undefined) server.user_data = options.userData;
  if (options.configDrive !== undefined) server.config_drive = options.configDrive;
  if (options.metadata) server.metadata = options.metadata;
  if (options.availabilityZone) server.availability_zone = options.availabilityZone;
  if (options.tags) server.tags = options.tags;
  if (options.blockDevices) server.block_device_mapping_v2 = options.blockDevices;
  const response = await compute.post<{ server?: unknown }>(serversUrl(compute), { server }, { ...request, signal });
  return CreatedServerSchema.parse(response.body?.server);
}

export async function getServer(compute: ServiceClient, id: string, signal?: AbortSignal): Promise<NovaServer> {
  const response = await compute.get<{ server?: unknown }>(serverUrl(compute, id), { signal });
  return NovaServerSchema.parse(response.body?.server);
}

export interface ListServersOptions extends PageOptions {
  /** Nova filters: name (a regex), status, limit, all_tenants, tags, changes-since… */
  query?: Record<string, string | number | boolean | undefined>;
}

/** GET /servers/detail, every page (servers_links). */
export function listServers(compute: ServiceClient, options: ListServersOptions = {}): AsyncGenerator<NovaServer> {
  return paginate(
    compute,
    serversDetailUrl(compute),
    'servers',
    { kind: 'links', key: 'servers_links' },
    (raw) => NovaServerSchema.parse(raw),
    options,
  );
}

export async function deleteServer(compute: ServiceClient, id: string, signal?: AbortSignal): Promise<void> {
  await compute.delete(serverUrl(compute, id), { signal });
}

/** Server actions are POSTs: a lost answer is not retried (a second reboot is not harmless). */
export async function serverAction(
  compute: ServiceClient,
  id: string,
  action: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<void> {
  await compute.post(serverActionUrl(compute, id), action, { signal });
}

export const rebootServer = (compute: ServiceClient, id: string, type: 'SOFT' | 'HARD', signal?: AbortSignal) =>
  serverAction(compute, id, { reboot: { type } }, signal);

export const resizeServer = (compute: ServiceClient, id: string, flavorRef: string, signal?: AbortSignal) =>
  serverAction(compute, id, { resize: { flavorRef } }, signal);

export const confirmResize = (compute: ServiceClient, id: string, signal?: AbortSignal) =>
  serverAction(compute, id, { confirmResize: null }, signal);

export interface ConsoleOutputOptions {
  /** The last N lines only; all that Nova keeps (its console log, at most 100 KiB on libvirt) when left out. */
  length?: number;
  signal?: AbortSignal;
}

/**
 * POST /servers/{id}/action `os-getConsoleOutput`: the guest's serial console log as text. Unlike the other
 * actions it changes nothing, so a lost answer may be asked again (`idempotent`). Fake-driver servers answer
 * a fixed line; a server without a console log yet answers 409 (ConflictError) on libvirt.
 */
export async function getConsoleOutput(
  compute: ServiceClient,
  id: string,
  options: ConsoleOutputOptions = {},
): Promise<string> {
  if (options.length !== undefined && (!Number.isInteger(options.length) || options.length < 1)) {
    throw new BadRequestError(`getConsoleOutput length: must be a positive integer (got ${options.length})`, {
      provider: PROVIDER_NAME,
    });
  }
  const action = { 'os-getConsoleOutput': options.length === undefined ? {} : { length: options.length } };
  const response = await compute.post<{ output?: unknown }>(serverActionUrl(compute, id), action, {
    signal: options.signal,
    idempotent: true,
  });
  return ConsoleOutputSchema.parse(response.body).output;
}
