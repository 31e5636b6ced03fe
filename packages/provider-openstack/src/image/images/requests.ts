import type { Readable } from 'node:stream';
import type { ServiceClient } from '../../common/http.js';
import { type PageOptions, paginate } from '../../common/pagination.js';
import { type GlanceImage, GlanceImageSchema } from './results.js';
import { imageFileUrl, imagesUrl, imageUrl } from './urls.js';

/** GET /v2/images, every page (Glance's relative `next`). Filters: name, status, visibility, limit… */
export function listImages(image: ServiceClient, options: PageOptions = {}): AsyncGenerator<GlanceImage> {
  return paginate(
    image,
    imagesUrl(image),
    'images',
    { kind: 'relative-next' },
    (raw) => GlanceImageSchema.parse(raw),
    options,
  );
}

export async function getImage(image: ServiceClient, id: string, signal?: AbortSignal): Promise<GlanceImage> {
  const response = await image.get(imageUrl(image, id), { signal });
  return GlanceImageSchema.parse(response.body);
}

export interface CreateImageOptions {
  name: string;
  diskFormat: 'raw' | 'qcow2' | 'aki' | 'ari' | 'ami' | 'iso' | 'vmdk' | 'vdi' | 'vhd';
  containerFormat?: 'bare' | 'aki' | 'ari' | 'ami' | 'ovf';
  visibility?: 'public' | 'private' | 'shared' | 'community';
  minDisk?: number;
  minRam?: number;
  /** Extra image properties (kernel_id, ramdisk_id, os_command_line, hw_*…), as strings. */
  properties?: Record<string, string>;
}

/** Creates the image record (status "queued"); `uploadImageData` then makes it active. */
export async function createImage(image: ServiceClient, options: CreateImageOptions): Promise<GlanceImage> {
  const body = {
    ...options.properties,
    name: options.name,
    disk_format: options.diskFormat,
    container_format: options.containerFormat ?? 'bare',
    visibility: options.visibility,
    min_disk: options.minDisk,
    min_ram: options.minRam,
  };
  const response = await image.post(imagesUrl(image), body);
  return GlanceImageSchema.parse(response.body);
}

/**
 * PUT /v2/images/{id}/file as application/octet-stream → 204, then the image is active. A stream can only be
 * sent once, so a stream upload is never retried; a Buffer upload is (PUT is idempotent).
 */
export async function uploadImageData(
  image: ServiceClient,
  id: string,
  data: Buffer | Readable,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<void> {
  await image.request('PUT', imageFileUrl(image, id), {
    body: data,
    headers: { 'content-type': 'application/octet-stream' },
    idempotent: Buffer.isBuffer(data),
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? 30 * 60_000,
  });
}

export async function deleteImage(image: ServiceClient, id: string, signal?: AbortSignal): Promise<void> {
  await image.delete(imageUrl(image, id), { signal });
}
