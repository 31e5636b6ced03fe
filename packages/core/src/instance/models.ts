import * as z from 'zod';
import { ConfigurationOverridesSchema } from '../contract/values.js';
import { ServerStatus } from '../provider/types.js';
import { ServiceStatus } from '../status/service-status.js';
import { InstanceTaskStatus } from '../status/task-status.js';

/**
 * The instance record: what the control plane knows about one instance. Timestamps are epoch milliseconds
 * (numbers compare and subtract the same way in memory, SQLite and PostgreSQL).
 */

/** Epoch milliseconds. */
export const EpochMs = z.number().int().nonnegative();

/** Ids are opaque strings the caller picks (usually UUIDs); they end up in topics and server names. */
export const RecordId = z
  .string()
  .min(1)
  .max(128)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:-]*$/,
    'must be letters, digits, ".", "_", ":" or "-", starting with a letter or digit',
  );

/** Why an instance is in ERROR, for the user and the operator. */
export const InstanceFaultSchema = z.object({
  message: z.string().min(1),
  /** Longer text: the provider's fault, a guest traceback. Never secrets. */
  details: z.string().optional(),
  /** The task step that failed, e.g. `wait-for-server`. */
  step: z.string().optional(),
  time: EpochMs,
});
export type InstanceFault = z.infer<typeof InstanceFaultSchema>;

export const DatastoreRefSchema = z.object({
  /** Datastore name in the catalog, e.g. `redis`. */
  type: z.string().min(1),
  /** Version name in the catalog, e.g. `7`. */
  version: z.string().min(1),
});
export type DatastoreRef = z.infer<typeof DatastoreRefSchema>;

export { type ConfigurationOverrides, ConfigurationOverridesSchema } from '../contract/values.js';

export const InstanceSchema = z.object({
  id: RecordId,
  name: z.string().min(1).max(255),
  /** Owner (Trove's tenant). */
  projectId: z.string().min(1).max(255),
  /** The provider's name (`libvirt`, `openstack`, `fake`) that holds the server. */
  provider: z.string().min(1),
  flavor: z.string().min(1),
  /** The provider image id or name the server boots from. */
  image: z.string().min(1),
  datastore: DatastoreRefSchema,
  volumeSizeGb: z.number().int().positive().nullable(),
  /** The provider's server id, once created. */
  serverId: z.string().nullable(),
  /** Last server status seen from the provider; null while there is no server. */
  serverStatus: ServerStatus.nullable(),
  taskStatus: InstanceTaskStatus,
  serviceStatus: ServiceStatus,
  /** The identity the guest's certificate names; the conductor checks messages against it. */
  guestId: RecordId,
  /** When the conductor last accepted a message from the guest. */
  lastSeenAt: EpochMs.nullable(),
  /** Boot id and sequence of the last accepted status: later messages must be newer (`isNewerReport`). */
  lastBootId: z.string().nullable(),
  lastSeq: z.number().int().nonnegative().nullable(),
  /** The boot id `lastBootId` replaced: late messages from that boot are stale. */
  previousBootId: z.string().nullable(),
  fault: InstanceFaultSchema.nullable(),
  configurationOverrides: ConfigurationOverridesSchema,
  createdAt: EpochMs,
  updatedAt: EpochMs,
  deletedAt: EpochMs.nullable(),
  /** Optimistic concurrency: bumped by every write; a write naming an older version is refused. */
  version: z.number().int().positive(),
});
export type Instance = z.infer<typeof InstanceSchema>;

/** What a caller gives to create an instance; the store fills in the rest. */
export const NewInstanceSchema = InstanceSchema.pick({
  id: true,
  name: true,
  projectId: true,
  provider: true,
  flavor: true,
  image: true,
  datastore: true,
}).extend({
  volumeSizeGb: z.number().int().positive().nullable().default(null),
  /** Defaults to the instance id. */
  guestId: RecordId.optional(),
  taskStatus: InstanceTaskStatus.default('BUILDING'),
  serviceStatus: ServiceStatus.default('NEW'),
  configurationOverrides: ConfigurationOverridesSchema.default({}),
});
export type NewInstance = z.input<typeof NewInstanceSchema>;

/**
 * Fields a write may change. Identity, ownership, timestamps, version and the (boot id, sequence) order are
 * the store's: the last two change only through `applyServiceStatus`.
 */
export const InstancePatchSchema = z
  .object({
    name: InstanceSchema.shape.name,
    flavor: InstanceSchema.shape.flavor,
    image: InstanceSchema.shape.image,
    volumeSizeGb: InstanceSchema.shape.volumeSizeGb,
    serverId: InstanceSchema.shape.serverId,
    serverStatus: InstanceSchema.shape.serverStatus,
    taskStatus: InstanceSchema.shape.taskStatus,
    serviceStatus: InstanceSchema.shape.serviceStatus,
    fault: InstanceSchema.shape.fault,
    configurationOverrides: InstanceSchema.shape.configurationOverrides,
    deletedAt: InstanceSchema.shape.deletedAt,
  })
  .partial()
  .strict();
export type InstancePatch = z.infer<typeof InstancePatchSchema>;
