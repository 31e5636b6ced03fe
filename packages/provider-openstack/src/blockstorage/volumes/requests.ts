import type { RequestOptions, ServiceClient } from '../../common/http.js';
import { type PageOptions, paginate } from '../../common/pagination.js';
import { type Volume, VolumeSchema } from './results.js';
import { volumesDetailUrl, volumesUrl, volumeUrl } from './urls.js';

export interface CreateVolumeOptions {
  size: number;
  name?: string;
  metadata?: Record<string, string>;
  imageRef?: string;
  volumeType?: string;
}

export async function createVolume(
  volume: ServiceClient,
  options: CreateVolumeOptions,
  signal?: AbortSignal,
  request: Pick<RequestOptions, 'resendOnClosedConnection'> = {},
): Promise<Volume> {
  const body = {
    volume: {
      size: options.size,
      name: options.name,
      metadata: options.metadata,
      imageRef: options.imageRef,
      volume_type: options.volumeType,
    },
  };
  const response = await volume.post<{ volume?: unknown }>(volumesUrl(volume), body, { ...request, signal });
  return VolumeSchema.parse(response.body?.volume);
}

export async function getVolume(volume: ServiceClient, id: string, signal?: AbortSignal): Promise<Volume> {
  const response = await volume.get<{ volume?: unknown }>(volumeUrl(volume, id), { signal });
  return VolumeSchema.parse(response.body?.volume);
}

export function listVolumes(volume: ServiceClient, options: PageOptions = {}): AsyncGenerator<Volume> {
  return paginate(
    volume,
    volumesDetailUrl(volume),
    'volumes',
    { kind: 'links', key: 'volumes_links' },
    (raw) => VolumeSchema.parse(raw),
    options,
  );
}

export async function deleteVolume(volume: ServiceClient, id: string, signal?: AbortSignal): Promise<void> {
  await volume.delete(volumeUrl(volume, id), { signal });
}
