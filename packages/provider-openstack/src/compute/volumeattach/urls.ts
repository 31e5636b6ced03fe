import type { ServiceClient } from '../../common/http.js';

export const volumeAttachmentsUrl = (compute: ServiceClient, serverId: string) =>
  compute.url('servers', serverId, 'os-volume_attachments');
export const volumeAttachmentUrl = (compute: ServiceClient, serverId: string, volumeId: string) =>
  compute.url('servers', serverId, 'os-volume_attachments', volumeId);
