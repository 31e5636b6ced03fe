import * as z from 'zod';

export const NetworkSchema = z.looseObject({
  id: z.string(),
  name: z.string().default(''),
  status: z.string().optional(),
  subnets: z.array(z.string()).default([]),
  shared: z.boolean().optional(),
  'router:external': z.boolean().optional(),
  project_id: z.string().optional(),
});
export type Network = z.infer<typeof NetworkSchema>;
