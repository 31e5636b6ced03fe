import * as z from 'zod';

export const VolumeAttachmentSchema = z.looseObject({
  id: z.string().optional(),
  volumeId: z.string(),
  serverId: z.string(),
  device: z.string().nullish(),
});
export type VolumeAttachment = z.infer<typeof VolumeAttachmentSchema>;
