import * as z from 'zod';

/**
 * The datastore catalog's records (Trove's datastores and datastore versions): which manager prepares a
 * version, which image each provider boots for it, what it can do, and which configuration parameters a
 * user may override and within what rules.
 */

export const parameterTypes = ['int', 'float', 'string', 'boolean'] as const;

export const ParameterRuleSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be letters, digits, "_", "." or "-"'),
    type: z.enum(parameterTypes),
    /** Inclusive bounds, for int and float. */
    min: z.number().optional(),
    max: z.number().optional(),
    /** The only values allowed (strings, or numbers for int/float). */
    allowed: z
      .array(z.union([z.string(), z.number()]))
      .min(1)
      .optional(),
    /** True when the datastore must restart for a new value to take effect. */
    restartRequired: z.boolean(),
    description: z.string().optional(),
  })
  .refine((rule) => rule.min === undefined || rule.max === undefined || rule.min <= rule.max, {
    message: 'min must not exceed max',
    path: ['min'],
  })
  .refine(
    (rule) => (rule.min === undefined && rule.max === undefined) || rule.type === 'int' || rule.type === 'float',
    {
      message: 'min and max apply to int and float parameters only',
      path: ['type'],
    },
  );
export type ParameterRule = z.infer<typeof ParameterRuleSchema>;

export const DatastoreCapabilitiesSchema = z.object({
  databases: z.boolean(),
  users: z.boolean(),
  root: z.boolean(),
  backups: z.boolean(),
  volumes: z.boolean(),
  /** Configuration overrides can be applied to the running datastore (some parameters). */
  liveOverrides: z.boolean(),
});
export type DatastoreCapabilities = z.infer<typeof DatastoreCapabilitiesSchema>;

export const DatastoreVersionSchema = z.object({
  /** As users name it: `7`, `15`. */
  name: z.string().min(1).max(64),
  /** The guest manager that prepares it (the agent's registry key), e.g. `redis`. */
  manager: z.string().min(1),
  /** Image id or name per provider name (`libvirt`, `openstack`, `fake`). */
  images: z.record(z.string().min(1), z.string().min(1)),
  /** Packages the image or the agent installs. */
  packages: z.array(z.string().min(1)).default([]),
  /** Inactive versions stay for existing instances; new instances cannot use them. */
  active: z.boolean().default(true),
  capabilities: DatastoreCapabilitiesSchema,
  parameters: z.array(ParameterRuleSchema).default([]),
  /** Port the datastore listens on. */
  port: z.number().int().min(1).max(65_535),
});
export type DatastoreVersion = z.output<typeof DatastoreVersionSchema>;
export type DatastoreVersionInput = z.input<typeof DatastoreVersionSchema>;

export const DatastoreSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, "_" or "-"'),
    defaultVersion: z.string().min(1),
    versions: z.array(DatastoreVersionSchema).min(1),
  })
  .superRefine((datastore, ctx) => {
    const names = datastore.versions.map((v) => v.name);
    if (!names.includes(datastore.defaultVersion)) {
      ctx.addIssue({
        code: 'custom',
        path: ['defaultVersion'],
        message: `must name one of the versions (${names.join(', ')})`,
      });
    }
    names.forEach((name, index) => {
      if (names.indexOf(name) !== index) {
        ctx.addIssue({ code: 'custom', path: ['versions', index, 'name'], message: `duplicate version "${name}"` });
      }
    });
    datastore.versions.forEach((version, index) => {
      const params = version.parameters.map((p) => p.name);
      params.forEach((name, p) => {
        if (params.indexOf(name) !== p) {
          ctx.addIssue({
            code: 'custom',
            path: ['versions', index, 'parameters', p, 'name'],
            message: `duplicate parameter "${name}"`,
          });
        }
      });
    });
  });
export type Datastore = z.output<typeof DatastoreSchema>;
export type DatastoreInput = z.input<typeof DatastoreSchema>;
