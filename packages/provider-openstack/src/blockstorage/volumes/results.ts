import * as z from 'zod';

export const VolumeSchema = z.looseObject({
  id: z.string(),
  name: z.string().nullish(),
  status: z.string(),
  size: z.number(),
  metadata: z.record(z.string(), z.string()).default({}),
  attachments: z
    .array(
      z.looseObject({
        server_id: z.string().optional(),
        attachment_id: z.string().optional(),
        volume_id: z.string().optional(),
        device: z.string().nullish(),
      }),
    )
    .default([]),
});
export type Volume = z.infer<typeof VolumeSchema>;
