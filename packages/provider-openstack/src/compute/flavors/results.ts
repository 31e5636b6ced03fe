import * as z from 'zod';

export const NovaFlavorSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  vcpus: z.number(),
  ram: z.number(),
  disk: z.number(),
  'os-flavor-access:is_public': z.boolean().optional(),
});
export type NovaFlavor = z.infer<typeof NovaFlavorSchema>;
