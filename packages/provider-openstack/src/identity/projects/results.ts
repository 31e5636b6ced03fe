import * as z from 'zod';

export const ProjectSchema = z.object({
  id: z.string(),
  name: z.string(),
  domain_id: z.string(),
  enabled: z.boolean().default(true),
  description: z.string().nullish(),
});
export type Project = z.infer<typeof ProjectSchema>;
