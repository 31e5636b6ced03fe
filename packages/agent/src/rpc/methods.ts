import { z } from 'zod';

/**
 * The methods the agent serves on `corral/v1/guest/{id}/rpc` (Trove's guestagent/api.py names), with their
 * argument schemas. Every call may carry `requestId` (the control plane's idempotency key, see core's GuestApi);
 * without one the envelope's message id is used. Unknown extra arguments are tolerated (forward compatibility).
 */
const RequestId = { requestId: z.string().min(1).max(200).optional() };

const Database = z.object({
  name: z.string().min(1).max(64),
  characterSet: z.string().min(1).optional(),
  collate: z.string().min(1).optional(),
});
const User = z.object({
  name: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
  host: z.string().optional(),
  databases: z.array(z.object({ name: z.string().min(1).max(64) })).optional(),
});

export const PrepareArgsSchema = z.looseObject({
  ...RequestId,
  databases: z.array(Database).optional(),
  users: z.array(User).optional(),
  rootPassword: z.string().min(1).optional(),
  overrides: z.record(z.string(), z.unknown()).optional(),
});
export type PrepareArgs = z.infer<typeof PrepareArgsSchema>;

const Empty = z.looseObject({ ...RequestId });
const Named = z.looseObject({ ...RequestId, name: z.string().min(1).max(64) });

export const agentMethods = {
  prepare: { args: PrepareArgsSchema, journaled: true },
  restart: { args: Empty, journaled: true },
  stop_db: { args: Empty, journaled: true },
  start_db: { args: Empty, journaled: true },
  rpc_ping: { args: Empty, journaled: false },
  get_status: { args: Empty, journaled: false },
  get_filesystem_stats: { args: z.looseObject({ ...RequestId, fsPath: z.string().optional() }), journaled: false },
  list_databases: { args: Empty, journaled: false },
  create_database: { args: z.looseObject({ ...RequestId, databases: z.array(Database).min(1) }), journaled: true },
  delete_database: { args: Named, journaled: true },
  list_users: { args: Empty, journaled: false },
  create_user: { args: z.looseObject({ ...RequestId, users: z.array(User).min(1) }), journaled: true },
  delete_user: { args: Named, journaled: true },
  enable_root: { args: z.looseObject({ ...RequestId, password: z.string().min(1).optional() }), journaled: true },
  is_root_enabled: { args: Empty, journaled: false },
} as const;

export type AgentMethod = keyof typeof agentMethods;
