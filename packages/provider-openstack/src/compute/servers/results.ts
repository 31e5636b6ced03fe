import * as z from 'zod';

export const NovaFaultSchema = z.object({
  code: z.number().optional(),
  message: z.string(),
  details: z.string().optional(),
  created: z.string().optional(),
});

const AddressSchema = z.looseObject({ addr: z.string(), version: z.number().optional() });

/** A server as GET /servers/{id} shows it. Fields vary by microversion and policy, hence the optional ones. */
export const NovaServerSchema = z.looseObject({
  id: z.string(),
  name: z.string().default(''),
  status: z.string().default('UNKNOWN'),
  fault: NovaFaultSchema.optional(),
  metadata: z.record(z.string(), z.string()).default({}),
  addresses: z.record(z.string(), z.array(AddressSchema)).default({}),
  // Before 2.47 the flavor is {id, links}; from 2.47 it is embedded ({original_name, vcpus, ram, …}).
  flavor: z.looseObject({ id: z.string().optional(), original_name: z.string().optional() }).optional(),
  // "" when booted from a volume.
  image: z.union([z.looseObject({ id: z.string() }), z.string()]).optional(),
  created: z.string().optional(),
  updated: z.string().optional(),
  tags: z.array(z.string()).optional(),
  'OS-EXT-STS:task_state': z.string().nullish(),
  'OS-EXT-STS:vm_state': z.string().nullish(),
  /** Admin only, microversion >= 2.3: the base64 user_data as given at create. */
  'OS-EXT-SRV-ATTR:user_data': z.string().nullish(),
  'os-extended-volumes:volumes_attached': z.array(z.looseObject({ id: z.string() })).optional(),
});
export type NovaServer = z.infer<typeof NovaServerSchema>;

export const CreatedServerSchema = z.looseObject({
  id: z.string(),
  adminPass: z.string().optional(),
});
export type CreatedServer = z.infer<typeof CreatedServerSchema>;

/** The answer to `os-getConsoleOutput`. */
export const ConsoleOutputSchema = z.looseObject({ output: z.string() });
export type ConsoleOutput = z.infer<typeof ConsoleOutputSchema>;
