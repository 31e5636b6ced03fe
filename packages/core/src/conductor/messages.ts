import * as z from 'zod';
import { JsonObjectSchema } from '../contract/values.js';
import { ServiceStatus } from '../status/service-status.js';

/**
 * What a guest agent sends to the conductor (Trove's `conductor/api.py`): casts on
 * `corral/v1/guest/{id}/conductor`. These are payloads; the envelope (boot id, sequence, TTL) is
 * messaging/envelope.ts, and the conductor orders status writes by the envelope's (bootId, seq).
 */

const InstanceId = z.string().min(1).max(128);
const RequestId = z.string().min(1).max(128);

/** Periodic: the service status plus whatever the manager wants the control plane to know. */
export const HeartbeatSchema = z.object({
  instanceId: InstanceId,
  serviceStatus: ServiceStatus,
  /** Manager-specific facts (datastore version, uptime, replication lag…); small. */
  payload: JsonObjectSchema.default({}),
});
export type Heartbeat = z.input<typeof HeartbeatSchema>;

/** Sent at once when the service status changes (e.g. prepare finished: RUNNING; or FAILED, with why). */
export const StatusReportSchema = z.object({
  instanceId: InstanceId,
  serviceStatus: ServiceStatus,
  /** The request that caused the change, when one did (the prepare cast's request id). */
  requestId: RequestId.optional(),
  /** Why, in words; set with FAILED. */
  message: z.string().max(4096).optional(),
});
export type StatusReport = z.input<typeof StatusReportSchema>;

export const backupStates = ['NEW', 'BUILDING', 'SAVING', 'COMPLETED', 'FAILED', 'DELETE_FAILED'] as const;

export const BackupUpdateSchema = z.object({
  instanceId: InstanceId,
  backupId: z.string().min(1).max(128),
  state: z.enum(backupStates),
  sizeBytes: z.number().int().nonnegative().optional(),
  checksum: z.string().max(256).optional(),
  location: z.string().max(2048).optional(),
  message: z.string().max(4096).optional(),
});
export type BackupUpdate = z.input<typeof BackupUpdateSchema>;

/** A cast finished: the answer a cast never had. */
export const NotifyEndSchema = z.object({
  instanceId: InstanceId,
  requestId: RequestId,
  /** The guest method that ended, e.g. `prepare`. */
  method: z.string().min(1).max(128),
  result: JsonObjectSchema.optional(),
});
export type NotifyEnd = z.input<typeof NotifyEndSchema>;

/** A cast failed (Trove's notify_exc_info). */
export const NotifyErrorSchema = z.object({
  instanceId: InstanceId,
  requestId: RequestId,
  method: z.string().min(1).max(128),
  error: z.object({
    code: z.string().min(1).max(64),
    message: z.string().min(1).max(4096),
    /** A traceback or the datastore's own output; never secrets. */
    details: z.string().max(65_536).optional(),
  }),
});
export type NotifyError = z.input<typeof NotifyErrorSchema>;

/** Every conductor method and its args schema; all are casts. */
export const conductorMethods = {
  heartbeat: HeartbeatSchema,
  status_report: StatusReportSchema,
  backup_update: BackupUpdateSchema,
  notify_end: NotifyEndSchema,
  notify_error: NotifyErrorSchema,
} as const;
export type ConductorMethodName = keyof typeof conductorMethods;
export type ConductorMessage<M extends ConductorMethodName> = z.output<(typeof conductorMethods)[M]>;

export function isConductorMethod(name: string): name is ConductorMethodName {
  return Object.hasOwn(conductorMethods, name);
}
