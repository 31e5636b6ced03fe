import { setTimeout as sleep } from 'node:timers/promises';
import {
  BadRequestError,
  type CreateServerRequest,
  type ParsedCreateServerRequest,
  parseCreateServerRequest,
  type Server,
  UnsupportedError,
} from '@corral/core/contract';
import { createVolume, listVolumes } from '../blockstorage/volumes/requests.js';
import type { Volume } from '../blockstorage/volumes/results.js';
import { deleteVolumeAndWait, waitForVolumeStatus } from '../blockstorage/volumes/wait.js';
import type { OpenStackClient } from '../client.js';
import { isAmbiguousFailure, PROVIDER_NAME } from '../common/errors.js';
import type { ServiceClient } from '../common/http.js';
import type { Logger } from '../common/logger.js';
import { collect } from '../common/pagination.js';
import { atLeast } from '../compute/microversion.js';
import { type BlockDeviceMapping, type CreateServerOptions, createServer } from '../compute/servers/requests.js';
import type { NovaServer } from '../compute/servers/results.js';
import { IDEMPOTENCY_METADATA_KEY, toServer } from './convert.js';
import { MAX_USER_DATA_BYTES, type OpenStackProviderOptions } from './options.js';
import type { NameResolver } from './resolve.js';
import { RollbackStack } from './rollback.js';

export interface CreateContext {
  client: OpenStackClient;
  resolver: NameResolver;
  options: OpenStackProviderOptions;
  logger: Logger;
  findByKey(key: string, name?: string, signal?: AbortSignal): Promise<NovaServer | undefined>;
  getServer(id: string, signal?: AbortSignal): Promise<Server>;
}

/** base64 user_data, refused before anything is made when Nova would refuse it. */
export function encodeUserData(userData: string): string {
  const encoded = Buffer.from(userData, 'utf8').toString('base64');
  if (encoded.length > MAX_USER_DATA_BYTES) {
    throw new BadRequestError(
      `bootstrap.userData: ${encoded.length} bytes once base64-encoded; Nova accepts at most ${MAX_USER_DATA_BYTES}`,
      { provider: PROVIDER_NAME },
    );
  }
  return encoded;
}

/**
 * The create flow: validate, return the key's server if one exists, resolve names, make the optional
 * volume, POST the server. After an ambiguous failure it looks for the key's server before trying again;
 * on failure everything made so far is removed.
 */
export async function createServerFlow(
  ctx: CreateContext,
  input: CreateServerRequest,
  signal?: AbortSignal,
): Promise<Server> {
  const request = parseCreateServerRequest(PROVIDER_NAME, input);
  const userData = encodeUserData(request.bootstrap.userData);
  const log = { idempotencyKey: request.idempotencyKey, name: request.name };

  const existing = await ctx.findByKey(request.idempotencyKey, request.name, signal);
  if (existing) {
    ctx.logger.info({ ...log, serverId: existing.id }, 'server for this idempotency key exists; returning it');
    return toServer(existing);
  }

  const compute = await ctx.client.compute({ signal });
  const microversion = ctx.client.computeMicroversion;
  const [flavorRef, imageRef, networks] = await Promise.all([
    ctx.resolver.flavor(compute, request.flavor, signal),
    ctx.resolver.image(await ctx.client.image(signal), request.image, signal),
    resolveNetworks(ctx, request, signal),
  ]);

  const rollback = new RollbackStack(ctx.logger);
  try {
    const blockDevices = request.volumeSizeGb ? await makeVolume(ctx, request, imageRef, rollback, signal) : undefined;
    const options: CreateServerOptions = {
      name: request.name,
      imageRef,
      flavorRef,
      // Before 2.37 "none" is not a value Nova knows; leaving the field out means the same there.
      networks: networks === 'none' && !atLeast(microversion, '2.37') ? undefined : networks,
      userData,
      configDrive: request.bootstrap.configDrive,
      metadata: { ...request.metadata, [IDEMPOTENCY_METADATA_KEY]: request.idempotencyKey },
      availabilityZone: ctx.options.availabilityZone,
      blockDevices,
    };
    const id = await postOnce(ctx, request, options, signal);
    rollback.release(); // the server owns its volume now (delete_on_termination)
    ctx.logger.info({ ...log, serverId: id }, 'server created');
    try {
      return await ctx.getServer(id, signal);
    } catch {
      return {
        id,
        name: request.name,
        status: 'BUILD',
        idempotencyKey: request.idempotencyKey,
        addresses: {},
        metadata: options.metadata ?? {},
      };
    }
  } catch (error) {
    await rollback.run();
    throw error;
  }
}

/** POST /servers at most twice: a second time only once a search by key proved the first made nothing. */
async function postOnce(
  ctx: CreateContext,
  request: ParsedCreateServerRequest,
  options: CreateServerOptions,
  signal?: AbortSignal,
): Promise<string> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const compute = await ctx.client.compute({ signal });
      // Not resent by the transport: a lost answer is recovered here, by key, without a second server.
      return (await createServer(compute, options, signal, { resendOnClosedConnection: false })).id;
    } catch (error) {
      if (!isAmbiguousFailure(error)) throw error;
      lastError = error;
      ctx.logger.warn(
        { idempotencyKey: request.idempotencyKey, attempt, error: (error as Error).message },
        'create answer lost; looking the server up by key',
      );
      const found = await recover(ctx, request, signal);
      if (found) return found.id;
    }
  }
  throw lastError;
}

async function recover(
  ctx: CreateContext,
  request: ParsedCreateServerRequest,
  signal?: AbortSignal,
): Promise<NovaServer | undefined> {
  const deadline = Date.now() + (ctx.options.recoveryWindowMs ?? 15_000);
  for (;;) {
    try {
      const found = await ctx.findByKey(request.idempotencyKey, request.name, signal);
      if (found) return found;
    } catch (error) {
      ctx.logger.warn(
        { idempotencyKey: request.idempotencyKey, error: (error as Error).message },
        'lookup by key failed',
      );
    }
    if (Date.now() >= deadline) return undefined;
    await sleep(1_000, undefined, { signal });
  }
}

async function resolveNetworks(
  ctx: CreateContext,
  request: ParsedCreateServerRequest,
  signal?: AbortSignal,
): Promise<string[] | 'none' | 'auto'> {
  const ref = request.network ?? ctx.options.defaultNetwork ?? 'none';
  if (ref === 'none' || ref === 'auto') return ref;
  return [await ctx.resolver.network(await ctx.client.network(signal), ref, signal)];
}

/**
 * Creates the data volume, waits for it to be available, and hands it to Nova as a boot-time mapping.
 * Nova wants the image as boot device 0 once block_device_mapping_v2 is present ("Boot sequence … not
 * valid" otherwise), so the image is mapped first (local disk, as without a mapping) and the volume second.
 * Its undo deletes the volume and waits for the 404: a failed create leaves nothing behind, not a volume
 * still `deleting`.
 */
async function makeVolume(
  ctx: CreateContext,
  request: ParsedCreateServerRequest,
  imageRef: string,
  rollback: RollbackStack,
  signal?: AbortSignal,
): Promise<BlockDeviceMapping[]> {
  if (!(await ctx.client.hasService('block-storage', signal))) {
    throw new UnsupportedError('volumeSizeGb: this cloud has no block-storage (Cinder) service in its catalog', {
      provider: PROVIDER_NAME,
    });
  }
  const cinder = await ctx.client.blockStorage(signal);
  const name = `${request.name}-data`;
  const timeoutMs = ctx.options.volumeTimeoutMs ?? 120_000;
  let volume: Volume;
  try {
    volume = await createVolume(
      cinder,
      { size: request.volumeSizeGb ?? 1, name, metadata: { [IDEMPOTENCY_METADATA_KEY]: request.idempotencyKey } },
      signal,
      { resendOnClosedConnection: false },
    );
  } catch (error) {
    // The answer was lost, not the request: Cinder may have made the volume. Find it by name and key and
    // hand it to the rollback; the create fails either way (the caller's retry finds no half-made state).
    if (isAmbiguousFailure(error))
      await undoLostVolumes(ctx, cinder, name, request.idempotencyKey, rollback, timeoutMs);
    throw error;
  }
  // The undo runs after a failure, maybe an abort: it must not use the caller's (aborted) signal.
  rollback.push(`volume ${volume.id}`, () => deleteVolumeAndWait(cinder, volume.id, { timeoutMs }));
  await waitForVolumeStatus(cinder, volume.id, 'available', { timeoutMs, signal });
  return [
    { source_type: 'image', destination_type: 'local', uuid: imageRef, boot_index: 0, delete_on_termination: true },
    { source_type: 'volume', destination_type: 'volume', uuid: volume.id, boot_index: -1, delete_on_termination: true },
  ];
}

/** Registers an undo for every volume a lost create answer may have made (same name and idempotency key). */
async function undoLostVolumes(
  ctx: CreateContext,
  cinder: ServiceClient,
  name: string,
  key: string,
  rollback: RollbackStack,
  timeoutMs: number,
): Promise<void> {
  try {
    const made = (await collect(listVolumes(cinder, { query: { name } }))).filter(
      (volume) => volume.name === name && volume.metadata[IDEMPOTENCY_METADATA_KEY] === key,
    );
    for (const volume of made) {
      rollback.push(`volume ${volume.id}`, () => deleteVolumeAndWait(cinder, volume.id, { timeoutMs }));
    }
  } catch (error) {
    ctx.logger.warn(
      { idempotencyKey: key, name, error: (error as Error).message },
      'volume create answer lost and the lookup failed; a volume may be left behind',
    );
  }
}
