import * as z from 'zod';

export const GlanceImageSchema = z.looseObject({
  id: z.string(),
  name: z.string().nullish(),
  status: z.string(),
  size: z.number().nullish(),
  disk_format: z.string().nullish(),
  container_format: z.string().nullish(),
  visibility: z.string().optional(),
  min_disk: z.number().optional(),
  min_ram: z.number().optional(),
  owner: z.string().nullish(),
});
export type GlanceImage = z.infer<typeof GlanceImageSchema>;
