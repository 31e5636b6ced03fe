import type { TaskFault } from './flow.js';

/**
 * What the task manager needs from the store, narrowed to the few calls a worker makes. `control-plane.ts`
 * adapts the real Store onto it; unit tests can give a small fake.
 */

export interface ClaimedTask {
  id: string;
  instanceId: string;
  kind: string;
  params: Record<string, unknown>;
  /** Name of the last step checkpointed, if any. */
  step?: string | null;
  data: Record<string, unknown>;
  /** How many times a worker has claimed it (1 on the first run). */
  attempts: number;
}

export interface TaskQueue {
  /** Claims one runnable task (new, or with an expired lease) for `workerId` until now + leaseMs. */
  claim(workerId: string, leaseMs: number): Promise<ClaimedTask | undefined>;
  /** Extends the lease; false when the worker no longer owns the task. */
  renew(taskId: string, workerId: string, leaseMs: number): Promise<boolean>;
  /** Records a finished step and its data; false when the worker no longer owns the task. */
  checkpoint(taskId: string, workerId: string, step: string, data: Record<string, unknown>): Promise<boolean>;
  /**
   * Ends the task and releases the lease. A failure also sets the instance's task status to `taskStatus` and
   * keeps the fault on it, in the same transaction.
   */
  finish(
    taskId: string,
    workerId: string,
    outcome: { ok: true; taskStatus: string } | { ok: false; taskStatus: string; fault: TaskFault },
  ): Promise<boolean>;
}
