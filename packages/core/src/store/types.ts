import * as z from 'zod';
import { EpochMs, type Instance, type InstancePatch, type NewInstance, RecordId } from '../instance/models.js';
import { ServiceStatus } from '../status/service-status.js';
import type { InstanceTaskStatus } from '../status/task-status.js';
import type { JsonObject, NewTask, Task, TaskKind, TaskState } from '../taskmanager/models.js';

/**
 * The one store interface, implemented in memory, on SQLite and on PostgreSQL; all three pass the suite in
 * `@corral/core/testing` (`describeStoreContract`). Every method is atomic: writes that belong together
 * (instance + task, task step + instance status) happen in one transaction. Errors: StoreNotFoundError,
 * StoreConflictError (version mismatch, duplicate id), LeaseLostError, ValidationError (bad input).
 */
export interface Store {
  readonly kind: 'memory' | 'sqlite' | 'postgres';

  // ── instances ──────────────────────────────────────────────────────────────────────────────────────────
  /** Creates the instance (service status NEW, version 1) and, if given, its first task, in one transaction. */
  createInstance(instance: NewInstance, task?: NewTask): Promise<{ instance: Instance; task?: Task }>;
  /** StoreNotFoundError if missing, or deleted and not `includeDeleted`. */
  getInstance(id: string, options?: { includeDeleted?: boolean }): Promise<Instance>;
  findInstance(id: string, options?: { includeDeleted?: boolean }): Promise<Instance | undefined>;
  /** Ordered by id; page with `after` = the previous page's `nextAfter`. */
  listInstances(query?: InstanceQuery): Promise<InstancePage>;
  /**
   * Applies the patch and bumps the version. With `expectedVersion`, refuses (StoreConflictError) unless the
   * stored version is that one.
   */
  updateInstance(id: string, patch: InstancePatch, options?: { expectedVersion?: number }): Promise<Instance>;

  // ── service status (the conductor's writes) ────────────────────────────────────────────────────────────
  /**
   * Writes service status, last-seen time and (boot id, sequence) in one step, only when (bootId, seq) is
   * newer than the stored pair (see `isNewerReport`). Stale, unknown or deleted: not applied, with a reason.
   */
  applyServiceStatus(report: ServiceStatusReport): Promise<ApplyServiceStatusResult>;
  /** The same for many reports in one transaction (heartbeat batching); results in input order. */
  applyServiceStatuses(reports: readonly ServiceStatusReport[]): Promise<ApplyServiceStatusResult[]>;
  /** Live instances whose guest has been silent since `silentSince` (for the conductor's sweep). */
  listSilentInstances(query: SilentInstanceQuery): Promise<Instance[]>;

  // ── tasks ──────────────────────────────────────────────────────────────────────────────────────────────
  /**
   * Creates a pending task; with `instancePatch` also updates its instance in the same transaction (e.g.
   * task status DELETING), checked against `expectedInstanceVersion` when given.
   */
  createTask(
    task: NewTask,
    options?: { instancePatch?: InstancePatch; expectedInstanceVersion?: number },
  ): Promise<{ task: Task; instance?: Instance }>;
  getTask(id: string): Promise<Task>;
  /** Newest last (ordered by creation). */
  listTasks(query?: TaskQuery): Promise<Task[]>;
  /**
   * Claims this task for `owner` if it is claimable now: pending with `runAfter` reached, or running with an
   * expired lease. Sets state running, the lease, attempts + 1. Undefined if not claimable (someone holds it,
   * it is finished, or it waits for `runAfter`). At most one caller wins.
   */
  claimTask(id: string, lease: LeaseRequest): Promise<Task | undefined>;
  /** Claims the oldest claimable task (optionally only of `kinds`); undefined when there is none. */
  claimNextTask(lease: LeaseRequest & { kinds?: readonly TaskKind[] }): Promise<Task | undefined>;
  /** Extends the lease; LeaseLostError unless `owner` holds it and the task is running. */
  renewLease(id: string, lease: LeaseRequest): Promise<Task>;
  /**
   * Records progress: step + checkpoint data (replacing the old checkpoint), optionally an instance patch, in
   * one transaction. Only the lease owner (LeaseLostError); with `expectedVersion`, only from that version
   * (StoreConflictError). `leaseMs` extends the lease as well.
   */
  checkpointTask(id: string, checkpoint: TaskCheckpoint): Promise<{ task: Task; instance?: Instance }>;
  /** Marks the task succeeded and releases the lease, with an optional instance patch, atomically. */
  completeTask(id: string, completion: TaskCompletion): Promise<{ task: Task; instance?: Instance }>;
  /**
   * Records the error. With `retryAt`, the task goes back to pending (claimable from then on); otherwise it
   * ends failed. Optional instance patch (e.g. task status BUILDING_ERROR_SERVER + fault), atomically.
   */
  failTask(id: string, failure: TaskFailure): Promise<{ task: Task; instance?: Instance }>;
  /** Gives the task back (pending, lease cleared) without counting a failure: a worker shutting down. */
  releaseTask(id: string, owner: string): Promise<Task>;
  /** Cancels a pending or running task; its lease holder loses the lease at its next write. */
  cancelTask(
    id: string,
    options?: { reason?: string; instancePatch?: InstancePatch },
  ): Promise<{ task: Task; instance?: Instance }>;

  // ── guest certificates (PKI revocation) ─────────────────────────────────────────────────────────────────
  /** Records an issued certificate; StoreConflictError if the serial exists. */
  putGuestCertificate(certificate: NewGuestCertificate): Promise<GuestCertificate>;
  getGuestCertificate(serial: string): Promise<GuestCertificate | undefined>;
  /** Idempotent: revoking a revoked certificate keeps the first revocation time. StoreNotFoundError if unknown. */
  revokeGuestCertificate(serial: string, reason?: string): Promise<GuestCertificate>;
  listGuestCertificates(query?: { guestId?: string; revoked?: boolean }): Promise<GuestCertificate[]>;

  // ── events and lifecycle ───────────────────────────────────────────────────────────────────────────────
  /**
   * Calls `listener` after each committed change made through this store object (in this process), so a
   * waiting task reacts at once instead of polling. Returns the unsubscribe function.
   */
  subscribe(listener: (event: StoreEvent) => void): () => void;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** Milliseconds since the epoch; tests pass a controllable clock to expire leases without sleeping. */
  clock?: () => number;
}

export interface InstanceQuery {
  projectId?: string;
  taskStatus?: InstanceTaskStatus | readonly InstanceTaskStatus[];
  serviceStatus?: ServiceStatus | readonly ServiceStatus[];
  /** Datastore type (`redis`), optionally with a version. */
  datastore?: string;
  datastoreVersion?: string;
  includeDeleted?: boolean;
  /** 1..1000, default 100. */
  limit?: number;
  after?: string;
}

export interface InstancePage {
  items: Instance[];
  /** Present when there may be more: pass as `after`. */
  nextAfter?: string;
}

export interface SilentInstanceQuery {
  /** Instances last seen before this time. */
  silentSince: number;
  /** Also those never seen at all and created before `silentSince` (default false: the build has its own deadline). */
  includeNeverSeen?: boolean;
  /** Default: FAILED_TIMEOUT_GUESTAGENT and DELETED (already marked, or gone). */
  excludeServiceStatuses?: readonly ServiceStatus[];
  limit?: number;
}

export const ServiceStatusReportSchema = z.object({
  instanceId: RecordId,
  /** The guest agent's boot id (random per start), from the message envelope. */
  bootId: z.string().min(1).max(128),
  /** Per-boot sequence number, increasing. */
  seq: z.number().int().nonnegative(),
  status: ServiceStatus,
  /** When the control plane received it (default: the store's clock). Never the guest's clock. */
  receivedAt: EpochMs.optional(),
});
export type ServiceStatusReport = z.input<typeof ServiceStatusReportSchema>;

export interface ApplyServiceStatusResult {
  instanceId: string;
  applied: boolean;
  /** Why not applied. */
  reason?: 'stale' | 'not-found' | 'deleted';
  /** The status before this report (when the instance exists). */
  previousStatus?: ServiceStatus;
  /** The stored status after this report. */
  status?: ServiceStatus;
  /** The instance's version after the write. */
  version?: number;
}

export interface TaskQuery {
  instanceId?: string;
  states?: readonly TaskState[];
  kinds?: readonly TaskKind[];
  limit?: number;
}

export interface LeaseRequest {
  owner: string;
  /** Lease length from now. */
  leaseMs: number;
}

export interface TaskCheckpoint {
  owner: string;
  step: string;
  data?: JsonObject;
  expectedVersion?: number;
  instancePatch?: InstancePatch;
  leaseMs?: number;
}

export interface TaskCompletion {
  owner: string;
  result?: JsonObject;
  instancePatch?: InstancePatch;
}

export interface TaskFailure {
  owner: string;
  error: { code?: string; message: string; step?: string };
  /** Retry: back to pending, claimable from this time. */
  retryAt?: number;
  instancePatch?: InstancePatch;
}

export const NewGuestCertificateSchema = z.object({
  /** Hex serial number, as in the certificate. */
  serial: z.string().regex(/^[0-9a-fA-F]{1,64}$/, 'must be 1-64 hex digits'),
  guestId: RecordId,
  instanceId: RecordId.nullable().default(null),
  issuedAt: EpochMs,
  notAfter: EpochMs,
  /** sha256 (hex) of the certified public key's SPKI: lets enrolment answer a retry with the same key again. */
  publicKeySha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits')
    .nullable()
    .default(null),
});
export type NewGuestCertificate = z.input<typeof NewGuestCertificateSchema>;

export const GuestCertificateSchema = NewGuestCertificateSchema.extend({
  instanceId: RecordId.nullable(),
  publicKeySha256: z.string().nullable(),
  revoked: z.boolean(),
  revokedAt: EpochMs.nullable(),
  revokedReason: z.string().nullable(),
});
export type GuestCertificate = z.infer<typeof GuestCertificateSchema>;

export type StoreEvent =
  | { type: 'instance'; instance: Instance }
  | {
      type: 'service-status';
      instanceId: string;
      status: ServiceStatus;
      previousStatus: ServiceStatus;
      version: number;
    }
  | { type: 'task'; task: Task };

/**
 * Orders status reports without trusting any clock. Boot ids are random per agent start (see the messaging
 * envelope), so they carry no order of their own; what the store knows is the current boot and the one it
 * replaced. Within the current boot the sequence decides. The boot that was replaced is over: its late
 * messages are stale. Any other boot id is a new start of the guest and wins.
 */
export function isNewerReport(
  report: { bootId: string; seq: number },
  last: { lastBootId: string | null; lastSeq: number | null; previousBootId: string | null },
): boolean {
  if (last.lastBootId === null) return true;
  if (report.bootId === last.lastBootId) return last.lastSeq === null || report.seq > last.lastSeq;
  return report.bootId !== last.previousBootId;
}
