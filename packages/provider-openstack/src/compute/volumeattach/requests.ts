import type { ServiceClient } from '../../common/http.js';
import { type VolumeAttachment, VolumeAttachmentSchema } from './results.js';
import { volumeAttachmentsUrl, volumeAttachmentUrl } from './urls.js';

/** Attaches a Cinder volume through Nova (the server must be ACTIVE or SHUTOFF). */
export async function attachVolume(
  compute: ServiceClient,
  serverId: string,
  volumeId: string,
  signal?: AbortSignal,
): Promise<VolumeAttachment> {
  const response = await compute.post<{ volumeAttachment?: unknown }>(
    volumeAttachmentsUrl(compute, serverId),
    { volumeAttachment: { volumeId } },
    { signal },
  );
  return VolumeAttachmentSchema.parse(response.body?.volumeAttachment);
}

export async function listVolumeAttachments(
  compute: ServiceClient,
  serverId: string,
  signal?: AbortSignal,
): Promise<VolumeAttachment[]> {
  const response = await compute.get<{ volumeAttachments?: unknown }>(volumeAttachmentsUrl(compute, serverId), {
    signal,
  });
  return VolumeAttachmentSchema.array().parse(response.body?.volumeAttachments ?? []);
}

export async function detachVolume(
  compute: ServiceClient,
  serverId: string,
  volumeId: string,
  signal?: AbortSignal,
): Promise<void> {
  await compute.delete(volumeAttachmentUrl(compute, serverId, volumeId), { signal });
}
