import * as z from 'zod';
import { ConfigurationOverridesSchema } from '../contract/values.js';

/**
 * The RPC contract between the control plane and a guest agent (Trove's `guestagent/api.py`): every method,
 * its argument and result schemas, whether it is a call (request, reply, deadline) or a cast (fire and
 * forget; the outcome arrives later as a conductor message), and its timeout class. Both sides validate
 * against `guestMethods`. These are payloads: the envelope around them (ids, boot id, sequence, TTL) is
 * messaging/envelope.ts.
 *
 * Every args object may carry `requestId`: a guest that receives a message twice (QoS 1, a resumed task
 * casting again) acts once per request id. Passwords travel in args: never log args (see `secretArgPaths`).
 */

/** How long the caller waits for the reply. Casts are not awaited. */
export const timeoutClasses = {
  /** Reads and pings: the guest answers from memory or one quick datastore query. */
  fast: 10_000,
  /** Work on the datastore process: restart, stop, start, configuration writes. */
  slow: 300_000,
  cast: null,
} as const;
export type TimeoutClass = keyof typeof timeoutClasses;

const RequestId = z.string().min(1).max(128);
/** The fields every method's args may carry. */
const base = { requestId: RequestId.optional() };

/** Database, user and host names a datastore will accept in all managers: no quoting games. */
const Name = z
  .string()
  .min(1)
  .max(63)
  .regex(
    /^[A-Za-z_][A-Za-z0-9_.-]*$/,
    'must start with a letter or "_" and hold only letters, digits, "_", "." or "-"',
  );
const Password = z.string().min(8, 'must be at least 8 characters').max(256);

export const DatabaseSchema = z.object({
  name: Name,
  characterSet: z.string().max(64).optional(),
  collate: z.string().max(64).optional(),
});
export type Database = z.infer<typeof DatabaseSchema>;

export const UserSchema = z.object({
  name: Name,
  password: Password,
  /** Where the user may connect from; `%` is anywhere (MySQL's notation, kept by Trove). */
  host: z.string().min(1).max(255).default('%'),
  /** Databases the user gets full access to. */
  databases: z.array(z.object({ name: Name })).default([]),
});
export type User = z.input<typeof UserSchema>;

/** A user as listed: never with a password. */
export const UserInfoSchema = z.object({
  name: z.string(),
  host: z.string(),
  databases: z.array(z.string()),
});
export type UserInfo = z.infer<typeof UserInfoSchema>;

const Paging = {
  limit: z.number().int().positive().max(1000).optional(),
  /** Name after which the page starts. */
  marker: z.string().optional(),
};

/** Nothing to return; the handler resolves with null. */
const Done = z.null();

/**
 * A data volume as the guest is told about it: the identity the provider gave the disk (libvirt's `<serial>`,
 * Nova's volume id, which the guest sees cut to virtio's 20 bytes), never a device name, and its size.
 */
export const VolumeSpecSchema = z.object({
  serial: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" or "-"'),
  sizeGb: z.number().int().positive().max(16_384),
});
export type VolumeSpec = z.infer<typeof VolumeSpecSchema>;

export const PrepareArgsSchema = z.object({
  ...base,
  datastore: z.object({
    /** The manager that knows how to prepare it, e.g. `redis` (the catalog's manager name). */
    manager: z.string().min(1),
    version: z.string().min(1),
  }),
  /** RAM of the flavor, for sizing caches and buffers. */
  memoryMb: z.number().int().positive(),
  databases: z.array(DatabaseSchema).default([]),
  users: z.array(UserSchema).default([]),
  overrides: ConfigurationOverridesSchema.default({}),
  /** A full configuration file to install, rendered by the control plane; null keeps the manager's default. */
  configContents: z
    .string()
    .max(1024 * 1024)
    .nullable()
    .default(null),
  /** Set the datastore's root/admin password to this; null leaves root disabled. */
  rootPassword: Password.nullable().default(null),
  /** The data volume, when the instance has one: the agent finds, formats (once), mounts and measures it. */
  volume: VolumeSpecSchema.nullable().default(null),
});
export type PrepareArgs = z.input<typeof PrepareArgsSchema>;

export const FilesystemStatsSchema = z.object({
  mountPoint: z.string(),
  /** The data volume's block device and its size, when the stats are the volume's. */
  device: z.string().optional(),
  deviceBytes: z.number().int().nonnegative().optional(),
  totalBytes: z.number().int().nonnegative(),
  usedBytes: z.number().int().nonnegative(),
  freeBytes: z.number().int().nonnegative(),
});
export type FilesystemStats = z.infer<typeof FilesystemStatsSchema>;

const empty = z.object(base);

interface MethodSpec<A extends z.ZodType, R extends z.ZodType> {
  args: A;
  result: R;
  kind: 'call' | 'cast';
  timeout: TimeoutClass;
  /** Paths (dotted, `*` for array items) of args holding secrets, for redaction before logging. */
  secrets?: readonly string[];
  description: string;
}

const call = <A extends z.ZodType, R extends z.ZodType>(
  args: A,
  result: R,
  timeout: 'fast' | 'slow',
  description: string,
  secrets?: readonly string[],
): MethodSpec<A, R> => ({ args, result, kind: 'call', timeout, description, ...(secrets && { secrets }) });
const cast = <A extends z.ZodType>(
  args: A,
  description: string,
  secrets?: readonly string[],
): MethodSpec<A, typeof Done> => ({
  args,
  result: Done,
  kind: 'cast',
  timeout: 'cast',
  description,
  ...(secrets && { secrets }),
});

export const guestMethods = {
  prepare: cast(
    PrepareArgsSchema,
    'Install and configure the datastore, create databases and users; ends with a conductor status report.',
    ['users.*.password', 'rootPassword', 'configContents'],
  ),
  rpc_ping: call(empty, z.literal(true), 'fast', 'Is the agent alive and listening?'),
  restart: call(empty, Done, 'slow', 'Restart the datastore service.'),
  stop_db: call(
    z.object({ ...base, doNotStartOnReboot: z.boolean().default(false) }),
    Done,
    'slow',
    'Stop the datastore service.',
  ),
  start_db: call(empty, Done, 'slow', 'Start the datastore service.'),
  start_db_with_conf_changes: call(
    z.object({ ...base, configContents: z.string().max(1024 * 1024) }),
    Done,
    'slow',
    'Write a new configuration file and start the datastore with it.',
    ['configContents'],
  ),
  get_filesystem_stats: call(
    z.object({ ...base, fsPath: z.string().min(1).optional() }),
    FilesystemStatsSchema,
    'fast',
    'Size and use of the datastore’s filesystem.',
  ),
  resize_fs: call(
    z.object({ ...base, volume: VolumeSpecSchema }),
    FilesystemStatsSchema,
    'slow',
    'Grow the data volume’s filesystem online to the (already grown) device’s size.',
  ),
  list_databases: call(
    z.object({ ...base, ...Paging }),
    z.object({ databases: z.array(DatabaseSchema), nextMarker: z.string().nullable() }),
    'fast',
    'List databases (paged by name).',
  ),
  create_database: cast(z.object({ ...base, databases: z.array(DatabaseSchema).min(1) }), 'Create databases.'),
  delete_database: cast(z.object({ ...base, database: z.object({ name: Name }) }), 'Delete a database.'),
  list_users: call(
    z.object({ ...base, ...Paging }),
    z.object({ users: z.array(UserInfoSchema), nextMarker: z.string().nullable() }),
    'fast',
    'List users (paged by name).',
  ),
  create_user: cast(z.object({ ...base, users: z.array(UserSchema).min(1) }), 'Create users.', ['users.*.password']),
  delete_user: cast(
    z.object({ ...base, user: z.object({ name: Name, host: z.string().min(1).max(255).default('%') }) }),
    'Delete a user.',
  ),
  enable_root: call(
    z.object({ ...base, password: Password.optional() }),
    z.object({ name: z.string(), password: z.string() }),
    'fast',
    'Enable the root/admin user, with this password or a generated one; returns the credentials.',
    ['password'],
  ),
  disable_root: call(empty, Done, 'fast', 'Disable the root/admin user.'),
  is_root_enabled: call(empty, z.boolean(), 'fast', 'Has root ever been enabled?'),
  update_overrides: call(
    z.object({ ...base, overrides: ConfigurationOverridesSchema, remove: z.boolean().default(false) }),
    Done,
    'slow',
    'Write configuration overrides to the datastore’s configuration file (or remove them); effective after restart.',
  ),
  apply_overrides: call(
    z.object({ ...base, overrides: ConfigurationOverridesSchema }),
    Done,
    'slow',
    'Apply configuration overrides to the running datastore, where it allows without a restart.',
  ),
  create_backup: cast(
    z.object({ ...base, backupId: z.string().min(1).max(128), location: z.string().min(1).optional() }),
    'Take a backup; progress arrives as conductor backup updates.',
  ),
} as const;

export type GuestMethodName = keyof typeof guestMethods;
export const guestMethodNames = Object.keys(guestMethods) as GuestMethodName[];
export type GuestMethodArgs<M extends GuestMethodName> = z.input<(typeof guestMethods)[M]['args']>;
export type ParsedGuestMethodArgs<M extends GuestMethodName> = z.output<(typeof guestMethods)[M]['args']>;
export type GuestMethodResult<M extends GuestMethodName> = z.output<(typeof guestMethods)[M]['result']>;

export function isGuestMethod(name: string): name is GuestMethodName {
  return Object.hasOwn(guestMethods, name);
}

/** Milliseconds to wait for a reply to `method`, or null for a cast. */
export function guestMethodTimeoutMs(method: GuestMethodName): number | null {
  return timeoutClasses[guestMethods[method].timeout];
}

/** A copy of args with every secret of `method` replaced by "***", safe to log. */
export function redactGuestArgs(method: GuestMethodName, args: unknown): unknown {
  const secrets = (guestMethods[method] as { secrets?: readonly string[] }).secrets ?? [];
  let copy = structuredCloneJson(args);
  for (const path of secrets) copy = redactPath(copy, path.split('.'));
  return copy;
}

function structuredCloneJson(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function redactPath(value: unknown, path: string[]): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value === undefined || value === null ? value : '***';
  if (head === '*') return Array.isArray(value) ? value.map((item) => redactPath(item, rest)) : value;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !(head in value)) return value;
  const record = value as Record<string, unknown>;
  return { ...record, [head]: redactPath(record[head], rest) };
}
