import * as z from 'zod';
import { JsonObjectSchema } from '../contract/values.js';
import { EpochMs, RecordId } from '../instance/models.js';

/**
 * The durable task record. A worker owns a task while it holds an unexpired lease; it records progress as
 * a step name plus checkpoint data, so another worker can resume after a crash. Every write bumps
 * `version` (optimistic concurrency).
 */

export const taskKinds = ['create', 'delete', 'reboot', 'restart', 'resize', 'update_configuration'] as const;
export const TaskKind = z.enum(taskKinds);
export type TaskKind = z.infer<typeof TaskKind>;

export const taskStates = ['pending', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export const TaskState = z.enum(taskStates);
export type TaskState = z.infer<typeof TaskState>;

/** States a task never leaves. */
export const terminalTaskStates: readonly TaskState[] = ['succeeded', 'failed', 'cancelled'];

export { type JsonObject, JsonObjectSchema } from '../contract/values.js';

export const TaskErrorSchema = z.object({
  /** A stable code (`PROVISIONING_FAILED`, `DEADLINE_EXCEEDED`…) when the error had one. */
  code: z.string().optional(),
  message: z.string().min(1),
  step: z.string().optional(),
  time: EpochMs,
});
export type TaskError = z.infer<typeof TaskErrorSchema>;

export const TaskSchema = z.object({
  id: RecordId,
  kind: TaskKind,
  instanceId: RecordId,
  state: TaskState,
  /** The step reached, e.g. `create-server`, `wait-for-guest`; `start` before the first checkpoint. */
  step: z.string().min(1),
  checkpoint: JsonObjectSchema,
  /** The task's input (e.g. the new flavor of a resize). */
  args: JsonObjectSchema,
  /** How many times a worker has claimed it. */
  attempts: z.number().int().nonnegative(),
  leaseOwner: z.string().nullable(),
  leaseExpiresAt: EpochMs.nullable(),
  /** Not claimable before this time (back-off after a retryable failure). */
  runAfter: EpochMs,
  /** When the whole task must be done; past it the worker fails the task with a clear fault. */
  deadline: EpochMs.nullable(),
  lastError: TaskErrorSchema.nullable(),
  result: JsonObjectSchema.nullable(),
  /** The request that started it, carried into logs. */
  requestId: z.string().nullable(),
  version: z.number().int().positive(),
  createdAt: EpochMs,
  updatedAt: EpochMs,
  finishedAt: EpochMs.nullable(),
});
export type Task = z.infer<typeof TaskSchema>;

export const NewTaskSchema = z.object({
  id: RecordId,
  kind: TaskKind,
  instanceId: RecordId,
  args: JsonObjectSchema.default({}),
  deadline: EpochMs.nullable().default(null),
  requestId: z.string().nullable().default(null),
  /** Defaults to now. */
  runAfter: EpochMs.optional(),
});
export type NewTask = z.input<typeof NewTaskSchema>;
