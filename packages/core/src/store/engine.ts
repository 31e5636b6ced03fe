import * as z from 'zod';
import { parseWith, ValidationError } from '../errors/index.js';
import {
  type Instance,
  type InstancePatch,
  InstancePatchSchema,
  type NewInstance,
  NewInstanceSchema,
} from '../instance/models.js';
import { type ServiceStatus, serviceStatuses } from '../status/service-status.js';
import { type NewTask, NewTaskSchema, type Task, TaskKind } from '../taskmanager/models.js';
import type { Backend, StatusRow, StatusWrite, TxOps } from './backend.js';
import { LeaseLostError, StoreConflictError, StoreNotFoundError } from './errors.js';
import {
  type ApplyServiceStatusResult,
  type GuestCertificate,
  type InstancePage,
  type InstanceQuery,
  isNewerReport,
  type LeaseRequest,
  type NewGuestCertificate,
  NewGuestCertificateSchema,
  type ServiceStatusReport,
  ServiceStatusReportSchema,
  type SilentInstanceQuery,
  type Store,
  type StoreEvent,
  type StoreOptions,
  type TaskCheckpoint,
  type TaskCompletion,
  type TaskFailure,
  type TaskQuery,
} from './types.js';

const LeaseSchema = z.object({
  owner: z.string().min(1).max(255),
  leaseMs: z
    .number()
    .int()
    .positive()
    .max(24 * 3600_000),
});
const StepSchema = z.string().min(1).max(255);

const REPORT_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/**
 * The common case of ServiceStatusReportSchema, checked by hand: at tens of thousands of heartbeats a second
 * zod's parse is a third of the cost. Anything this does not accept goes through zod, which explains why.
 */
function isPlainReport(report: ServiceStatusReport): boolean {
  const { instanceId, bootId, seq, status, receivedAt } = report as Record<string, unknown>;
  return (
    typeof instanceId === 'string' &&
    instanceId.length <= 128 &&
    REPORT_ID.test(instanceId) &&
    typeof bootId === 'string' &&
    bootId.length >= 1 &&
    bootId.length <= 128 &&
    Number.isSafeInteger(seq) &&
    (seq as number) >= 0 &&
    typeof status === 'string' &&
    Object.hasOwn(serviceStatuses, status) &&
    (receivedAt === undefined || (Number.isSafeInteger(receivedAt) && (receivedAt as number) >= 0)) &&
    Object.keys(report).length <= 5
  );
}

function statusEvent(result: ApplyServiceStatusResult, write: StatusWrite): StoreEvent {
  return {
    type: 'service-status',
    instanceId: result.instanceId,
    status: write.serviceStatus,
    previousStatus: result.previousStatus ?? write.serviceStatus,
    version: write.version,
  };
}

function clampLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  return Math.max(1, Math.min(1000, Math.floor(limit)));
}

/**
 * The store's rules, written once over a Backend's row access: versions, leases, ordering of status reports.
 * Memory, SQLite and PostgreSQL stores are this engine over their backend.
 */
export class StoreEngine implements Store {
  readonly kind: Store['kind'];
  private readonly clock: () => number;
  private readonly listeners = new Set<(event: StoreEvent) => void>();

  constructor(
    private readonly backend: Backend,
    options: StoreOptions = {},
  ) {
    this.kind = backend.kind;
    this.clock = options.clock ?? Date.now;
  }

  // ── plumbing ─────────────────────────────────────────────────────────────────────────────────────────
  /** A read-only transaction: takes no write lock (SQLite) and locks no rows (PostgreSQL). */
  private read<T>(fn: (tx: TxOps) => Promise<T>): Promise<T> {
    return this.backend.transaction(fn, { readOnly: true });
  }

  private async tx<T>(fn: (tx: TxOps, events: StoreEvent[]) => Promise<T>): Promise<T> {
    const events: StoreEvent[] = [];
    const result = await this.backend.transaction((tx) => {
      events.length = 0; // a backend may retry the function
      return fn(tx, events);
    });
    for (const event of events) {
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch {
          // A listener's bug must not undo or fail a committed write.
        }
      }
    }
    return result;
  }

  private async loadInstance(tx: TxOps, id: string, includeDeleted = false): Promise<Instance> {
    const instance = await tx.getInstance(id);
    if (!instance || (instance.deletedAt !== null && !includeDeleted)) throw new StoreNotFoundError('instance', id);
    return instance;
  }

  private async loadTask(tx: TxOps, id: string): Promise<Task> {
    const task = await tx.getTask(id);
    if (!task) throw new StoreNotFoundError('task', id);
    return task;
  }

  private async patchInstance(
    tx: TxOps,
    events: StoreEvent[],
    id: string,
    patch: InstancePatch,
    expectedVersion?: number,
  ): Promise<Instance> {
    const current = await this.loadInstance(tx, id, true);
    if (expectedVersion !== undefined && current.version !== expectedVersion) {
      throw new StoreConflictError(
        'instance',
        id,
        `version is ${current.version}, not ${expectedVersion}`,
        expectedVersion,
        current.version,
      );
    }
    const next: Instance = { ...current, ...patch, version: current.version + 1, updatedAt: this.clock() };
    await tx.writeInstance(next);
    events.push({ type: 'instance', instance: next });
    return next;
  }

  private parsePatch(patch: InstancePatch | undefined): InstancePatch | undefined {
    return patch === undefined ? undefined : parseWith(InstancePatchSchema, patch, 'instance patch');
  }

  /** The task, if `owner` holds its lease; LeaseLostError otherwise. */
  private async ownedTask(tx: TxOps, id: string, owner: string): Promise<Task> {
    const task = await this.loadTask(tx, id);
    if (task.state !== 'running') throw new LeaseLostError(id, owner, `task is ${task.state}`);
    if (task.leaseOwner !== owner) throw new LeaseLostError(id, owner, `held by ${task.leaseOwner ?? 'nobody'}`);
    return task;
  }

  private async writeTask(tx: TxOps, events: StoreEvent[], task: Task): Promise<Task> {
    await tx.writeTask(task);
    events.push({ type: 'task', task });
    return task;
  }

  private claimable(task: Task, now: number): boolean {
    if (task.state === 'pending') return task.runAfter <= now;
    return task.state === 'running' && (task.leaseExpiresAt === null || task.leaseExpiresAt <= now);
  }

  private claimed(task: Task, lease: LeaseRequest, now: number): Task {
    return {
      ...task,
      state: 'running',
      leaseOwner: lease.owner,
      leaseExpiresAt: now + lease.leaseMs,
      attempts: task.attempts + 1,
      version: task.version + 1,
      updatedAt: now,
    };
  }

  private newTask(input: NewTask, now: number): Task {
    const parsed = parseWith(NewTaskSchema, input, 'task');
    return {
      id: parsed.id,
      kind: parsed.kind,
      instanceId: parsed.instanceId,
      state: 'pending',
      step: 'start',
      checkpoint: {},
      args: parsed.args,
      attempts: 0,
      leaseOwner: null,
      leaseExpiresAt: null,
      runAfter: parsed.runAfter ?? now,
      deadline: parsed.deadline,
      lastError: null,
      result: null,
      requestId: parsed.requestId,
      version: 1,
      createdAt: now,
      updatedAt: now,
      finishedAt: null,
    };
  }

  // ── instances ────────────────────────────────────────────────────────────────────────────────────────
  async createInstance(input: NewInstance, taskInput?: NewTask): Promise<{ instance: Instance; task?: Task }> {
    const parsed = parseWith(NewInstanceSchema, input, 'instance');
    const now = this.clock();
    const instance: Instance = {
      ...parsed,
      guestId: parsed.guestId ?? parsed.id,
      serverId: null,
      serverStatus: null,
      lastSeenAt: null,
      lastBootId: null,
      lastSeq: null,
      previousBootId: null,
      fault: null,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
      version: 1,
    };
    const task = taskInput === undefined ? undefined : this.newTask(taskInput, now);
    if (task && task.instanceId !== instance.id) {
      const message = `must equal the instance id ${instance.id}`;
      throw new ValidationError(`invalid task: instanceId: ${message}`, [{ path: 'instanceId', message }]);
    }
    return this.tx(async (tx, events) => {
      await tx.insertInstance(instance);
      events.push({ type: 'instance', instance });
      if (task) {
        await tx.insertTask(task);
        events.push({ type: 'task', task });
      }
      return task ? { instance, task } : { instance };
    });
  }

  async getInstance(id: string, options?: { includeDeleted?: boolean }): Promise<Instance> {
    return this.read((tx) => this.loadInstance(tx, id, options?.includeDeleted));
  }

  async findInstance(id: string, options?: { includeDeleted?: boolean }): Promise<Instance | undefined> {
    const instance = await this.read((tx) => tx.getInstance(id));
    if (!instance || (instance.deletedAt !== null && !options?.includeDeleted)) return undefined;
    return instance;
  }

  async listInstances(query: InstanceQuery = {}): Promise<InstancePage> {
    const limit = clampLimit(query.limit, 100);
    const items = await this.read((tx) => tx.listInstances({ ...query, limit: limit + 1 }));
    if (items.length > limit) {
      const page = items.slice(0, limit);
      return { items: page, nextAfter: page[page.length - 1]?.id };
    }
    return { items };
  }

  async updateInstance(id: string, patch: InstancePatch, options?: { expectedVersion?: number }): Promise<Instance> {
    const parsed = parseWith(InstancePatchSchema, patch, 'instance patch');
    return this.tx((tx, events) => this.patchInstance(tx, events, id, parsed, options?.expectedVersion));
  }

  // ── service status ───────────────────────────────────────────────────────────────────────────────────
  /**
   * Decides one report against the instance's status row: the result, and the row and write when it applies.
   * Pure, so the single and the batch paths share it.
   */
  private decide(
    row: StatusRow | undefined,
    report: ServiceStatusReport,
    now: number,
  ): { result: ApplyServiceStatusResult; next?: StatusRow; write?: StatusWrite } {
    const { instanceId, bootId, seq, status } = report;
    if (!row) return { result: { instanceId, applied: false, reason: 'not-found' } };
    const base = { instanceId, previousStatus: row.serviceStatus, status: row.serviceStatus, version: row.version };
    if (row.deletedAt !== null || row.serviceStatus === 'DELETED') {
      return { result: { ...base, applied: false, reason: 'deleted' } };
    }
    if (!isNewerReport(report, row)) return { result: { ...base, applied: false, reason: 'stale' } };
    const write: StatusWrite = {
      serviceStatus: status,
      lastSeenAt: report.receivedAt ?? now,
      lastBootId: bootId,
      lastSeq: seq,
      previousBootId: bootId === row.lastBootId ? row.previousBootId : row.lastBootId,
      version: row.version + 1,
      updatedAt: now,
    };
    return {
      result: { instanceId, applied: true, previousStatus: row.serviceStatus, status, version: write.version },
      next: { ...row, ...write },
      write,
    };
  }

  async applyServiceStatus(report: ServiceStatusReport): Promise<ApplyServiceStatusResult> {
    const parsed = parseWith(ServiceStatusReportSchema, report, 'service status report');
    return this.tx(async (tx, events) => {
      const { result, write } = this.decide(await tx.getStatusRow(parsed.instanceId), parsed, this.clock());
      if (write) {
        await tx.writeStatus(parsed.instanceId, write);
        events.push(statusEvent(result, write));
      }
      return result;
    });
  }

  async applyServiceStatuses(reports: readonly ServiceStatusReport[]): Promise<ApplyServiceStatusResult[]> {
    const parsed = reports.map((report, index) =>
      isPlainReport(report) ? report : parseWith(ServiceStatusReportSchema, report, `service status report [${index}]`),
    );
    return this.tx(async (tx, events) => {
      // One read and one write per batch: later reports for an instance see the earlier ones' effect.
      const rows = await tx.getStatusRows(parsed.map((report) => report.instanceId));
      const writes = new Map<string, StatusWrite & { id: string }>();
      const now = this.clock();
      const results = parsed.map((report) => {
        const { result, next, write } = this.decide(rows.get(report.instanceId), report, now);
        if (next && write) {
          rows.set(report.instanceId, next);
          writes.set(report.instanceId, { id: report.instanceId, ...write });
          events.push(statusEvent(result, write));
        }
        return result;
      });
      await tx.writeStatuses([...writes.values()]);
      return results;
    });
  }

  async listSilentInstances(query: SilentInstanceQuery): Promise<Instance[]> {
    const normalized: Required<SilentInstanceQuery> = {
      silentSince: query.silentSince,
      includeNeverSeen: query.includeNeverSeen ?? false,
      excludeServiceStatuses:
        query.excludeServiceStatuses ?? (['FAILED_TIMEOUT_GUESTAGENT', 'DELETED'] as ServiceStatus[]),
      limit: clampLimit(query.limit, 1000),
    };
    return this.read((tx) => tx.listSilentInstances(normalized));
  }

  // ── tasks ────────────────────────────────────────────────────────────────────────────────────────────
  async createTask(
    input: NewTask,
    options: { instancePatch?: InstancePatch; expectedInstanceVersion?: number } = {},
  ): Promise<{ task: Task; instance?: Instance }> {
    const task = this.newTask(input, this.clock());
    const patch = this.parsePatch(options.instancePatch);
    return this.tx(async (tx, events) => {
      // A deleted instance takes no more tasks.
      const instance = await this.loadInstance(tx, task.instanceId);
      let updated: Instance | undefined;
      if (patch !== undefined || options.expectedInstanceVersion !== undefined) {
        updated = await this.patchInstance(tx, events, instance.id, patch ?? {}, options.expectedInstanceVersion);
      }
      await tx.insertTask(task);
      events.push({ type: 'task', task });
      return updated ? { task, instance: updated } : { task };
    });
  }

  async getTask(id: string): Promise<Task> {
    return this.read((tx) => this.loadTask(tx, id));
  }

  async listTasks(query: TaskQuery = {}): Promise<Task[]> {
    return this.read((tx) => tx.listTasks({ ...query, limit: clampLimit(query.limit, 1000) }));
  }

  async claimTask(id: string, lease: LeaseRequest): Promise<Task | undefined> {
    const parsedLease = parseWith(LeaseSchema, lease, 'lease');
    return this.tx(async (tx, events) => {
      const task = await this.loadTask(tx, id);
      const now = this.clock();
      if (!this.claimable(task, now)) return undefined;
      return this.writeTask(tx, events, this.claimed(task, parsedLease, now));
    });
  }

  async claimNextTask(lease: LeaseRequest & { kinds?: readonly TaskKind[] }): Promise<Task | undefined> {
    const parsedLease = parseWith(LeaseSchema, lease, 'lease');
    const kinds = lease.kinds?.map((kind, index) => parseWith(TaskKind, kind, `kinds[${index}]`));
    return this.tx(async (tx, events) => {
      const now = this.clock();
      const [task] = await tx.findClaimableTasks(now, kinds, 1);
      if (!task || !this.claimable(task, now)) return undefined;
      return this.writeTask(tx, events, this.claimed(task, parsedLease, now));
    });
  }

  async renewLease(id: string, lease: LeaseRequest): Promise<Task> {
    const parsedLease = parseWith(LeaseSchema, lease, 'lease');
    return this.tx(async (tx, events) => {
      const task = await this.ownedTask(tx, id, parsedLease.owner);
      const now = this.clock();
      return this.writeTask(tx, events, {
        ...task,
        leaseExpiresAt: now + parsedLease.leaseMs,
        version: task.version + 1,
        updatedAt: now,
      });
    });
  }

  async checkpointTask(id: string, checkpoint: TaskCheckpoint): Promise<{ task: Task; instance?: Instance }> {
    const step = parseWith(StepSchema, checkpoint.step, 'checkpoint step');
    const patch = this.parsePatch(checkpoint.instancePatch);
    const leaseMs =
      checkpoint.leaseMs === undefined
        ? undefined
        : parseWith(LeaseSchema.shape.leaseMs, checkpoint.leaseMs, 'leaseMs');
    return this.tx(async (tx, events) => {
      const task = await this.ownedTask(tx, id, checkpoint.owner);
      if (checkpoint.expectedVersion !== undefined && checkpoint.expectedVersion !== task.version) {
        throw new StoreConflictError(
          'task',
          id,
          `version is ${task.version}, not ${checkpoint.expectedVersion}`,
          checkpoint.expectedVersion,
          task.version,
        );
      }
      const now = this.clock();
      const next = await this.writeTask(tx, events, {
        ...task,
        step,
        checkpoint: checkpoint.data ?? task.checkpoint,
        leaseExpiresAt: leaseMs === undefined ? task.leaseExpiresAt : now + leaseMs,
        version: task.version + 1,
        updatedAt: now,
      });
      if (!patch) return { task: next };
      return { task: next, instance: await this.patchInstance(tx, events, task.instanceId, patch) };
    });
  }

  async completeTask(id: string, completion: TaskCompletion): Promise<{ task: Task; instance?: Instance }> {
    const patch = this.parsePatch(completion.instancePatch);
    return this.tx(async (tx, events) => {
      const task = await this.ownedTask(tx, id, completion.owner);
      const now = this.clock();
      const next = await this.writeTask(tx, events, {
        ...task,
        state: 'succeeded',
        result: completion.result ?? null,
        leaseOwner: null,
        leaseExpiresAt: null,
        version: task.version + 1,
        updatedAt: now,
        finishedAt: now,
      });
      if (!patch) return { task: next };
      return { task: next, instance: await this.patchInstance(tx, events, task.instanceId, patch) };
    });
  }

  async failTask(id: string, failure: TaskFailure): Promise<{ task: Task; instance?: Instance }> {
    const patch = this.parsePatch(failure.instancePatch);
    const message = parseWith(z.string().min(1), failure.error.message, 'error.message');
    return this.tx(async (tx, events) => {
      const task = await this.ownedTask(tx, id, failure.owner);
      const now = this.clock();
      const retry = failure.retryAt !== undefined;
      const next = await this.writeTask(tx, events, {
        ...task,
        state: retry ? 'pending' : 'failed',
        runAfter: retry ? (failure.retryAt ?? now) : task.runAfter,
        lastError: {
          ...(failure.error.code !== undefined && { code: failure.error.code }),
          message,
          step: failure.error.step ?? task.step,
          time: now,
        },
        leaseOwner: null,
        leaseExpiresAt: null,
        version: task.version + 1,
        updatedAt: now,
        finishedAt: retry ? null : now,
      });
      if (!patch) return { task: next };
      return { task: next, instance: await this.patchInstance(tx, events, task.instanceId, patch) };
    });
  }

  async releaseTask(id: string, owner: string): Promise<Task> {
    return this.tx(async (tx, events) => {
      const task = await this.ownedTask(tx, id, owner);
      const now = this.clock();
      return this.writeTask(tx, events, {
        ...task,
        state: 'pending',
        leaseOwner: null,
        leaseExpiresAt: null,
        runAfter: now,
        version: task.version + 1,
        updatedAt: now,
      });
    });
  }

  async cancelTask(
    id: string,
    options: { reason?: string; instancePatch?: InstancePatch } = {},
  ): Promise<{ task: Task; instance?: Instance }> {
    const patch = this.parsePatch(options.instancePatch);
    return this.tx(async (tx, events) => {
      const task = await this.loadTask(tx, id);
      if (task.state !== 'pending' && task.state !== 'running') {
        throw new StoreConflictError('task', id, `cannot cancel a ${task.state} task`);
      }
      const now = this.clock();
      const next = await this.writeTask(tx, events, {
        ...task,
        state: 'cancelled',
        lastError: { code: 'CANCELLED', message: options.reason ?? 'cancelled', step: task.step, time: now },
        leaseOwner: null,
        leaseExpiresAt: null,
        version: task.version + 1,
        updatedAt: now,
        finishedAt: now,
      });
      if (!patch) return { task: next };
      return { task: next, instance: await this.patchInstance(tx, events, task.instanceId, patch) };
    });
  }

  // ── certificates ─────────────────────────────────────────────────────────────────────────────────────
  async putGuestCertificate(input: NewGuestCertificate): Promise<GuestCertificate> {
    const parsed = parseWith(NewGuestCertificateSchema, input, 'guest certificate');
    const certificate: GuestCertificate = {
      ...parsed,
      serial: parsed.serial.toLowerCase(),
      revoked: false,
      revokedAt: null,
      revokedReason: null,
    };
    return this.tx(async (tx) => {
      await tx.insertCertificate(certificate);
      return certificate;
    });
  }

  async getGuestCertificate(serial: string): Promise<GuestCertificate | undefined> {
    return this.read((tx) => tx.getCertificate(serial.toLowerCase()));
  }

  async revokeGuestCertificate(serial: string, reason?: string): Promise<GuestCertificate> {
    return this.tx(async (tx) => {
      const current = await tx.getCertificate(serial.toLowerCase());
      if (!current) throw new StoreNotFoundError('certificate', serial);
      if (current.revoked) return current;
      const next: GuestCertificate = {
        ...current,
        revoked: true,
        revokedAt: this.clock(),
        revokedReason: reason ?? null,
      };
      await tx.writeCertificate(next);
      return next;
    });
  }

  async listGuestCertificates(query: { guestId?: string; revoked?: boolean } = {}): Promise<GuestCertificate[]> {
    return this.read((tx) => tx.listCertificates(query));
  }

  // ── events and lifecycle ─────────────────────────────────────────────────────────────────────────────
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    return this.backend.close();
  }
}
