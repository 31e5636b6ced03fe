import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { ProviderError } from '../provider/errors.js';
import { type Flow, nextStepIndex, StepError, type TaskFault } from './tasks/flow.js';
import type { ClaimedTask, TaskQueue } from './tasks/ports.js';

/**
 * The task manager's worker side (Trove's `taskmanager/manager.py`), made durable: a task is a row in the
 * store, taken by lease, worked step by step with a checkpoint after each, so any worker in any process can
 * resume what a dead one left. At most one worker owns a task at a time: the lease says who, and a worker
 * that fails to renew it stops before its next step.
 */

export interface TaskHooks {
  /**
   * Runs before a step (`phase: 'before'`) and after its side effect but before its checkpoint
   * (`phase: 'after'`). The crash tests pause here and SIGKILL the worker.
   */
  onStep?(event: {
    taskId: string;
    instanceId: string;
    kind: string;
    step: string;
    phase: 'before' | 'after';
  }): Promise<void> | void;
}

export interface TaskManagerOptions<D> {
  queue: TaskQueue;
  flows: readonly Flow<D>[];
  deps: D;
  logger: Logger;
  /** Tasks worked at once in this process (default 4). */
  concurrency?: number;
  /** Lease length; renewed every third of it (default 30 s). */
  leaseMs?: number;
  /**
   * How often an idle worker looks at the task table without a wake-up (default 2 s): it finds tasks whose
   * owner died (expired leases) and casts lost between processes. Casts wake workers at once.
   */
  idleMs?: number;
  /**
   * Transient provider errors (5xx, 429, a lost connection to libvirtd) are retried this many times per step,
   * with back-off from 150 ms doubling, or as long as the provider's Retry-After says (default 5: about 4.5 s
   * in all, enough for a local provider daemon to restart).
   */
  stepRetries?: number;
  hooks?: TaskHooks;
  /** Names this process in leases and logs. */
  workerId?: string;
}

export class TaskManager<D> {
  readonly workerId: string;
  readonly #options: Required<Omit<TaskManagerOptions<D>, 'hooks' | 'workerId'>> & { hooks: TaskHooks };
  readonly #flows: Map<string, Flow<D>>;
  readonly #wakeups = new EventEmitter();
  readonly #stop = new AbortController();
  readonly #loops: Promise<void>[] = [];
  readonly #running = new Set<Promise<void>>();
  #started = false;

  constructor(options: TaskManagerOptions<D>) {
    this.workerId = options.workerId ?? `worker-${randomUUID()}`;
    this.#options = {
      ...options,
      concurrency: options.concurrency ?? 4,
      leaseMs: options.leaseMs ?? 30_000,
      idleMs: options.idleMs ?? 2_000,
      stepRetries: options.stepRetries ?? 5,
      hooks: options.hooks ?? {},
    };
    this.#flows = new Map(options.flows.map((flow) => [flow.kind, flow]));
    this.#wakeups.setMaxListeners(0);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (let slot = 0; slot < this.#options.concurrency; slot++) this.#loops.push(this.#loop(slot));
  }

  /** A task was cast: wake the idle workers to claim it. */
  wake(): void {
    this.#wakeups.emit('wake');
  }

  /** Stops claiming, aborts running steps (their leases lapse; another worker resumes them) and waits. */
  async stop(): Promise<void> {
    this.#stop.abort(new Error('task manager stopping'));
    this.wake();
    await Promise.allSettled([...this.#loops, ...this.#running]);
  }

  async #loop(slot: number): Promise<void> {
    const log = this.#options.logger.child({ workerId: this.workerId, slot });
    while (!this.#stop.signal.aborted) {
      let task: ClaimedTask | undefined;
      try {
        task = await this.#options.queue.claim(this.workerId, this.#options.leaseMs);
      } catch (error) {
        log.error({ err: error }, 'claiming a task failed');
      }
      if (task === undefined) {
        await this.#idle();
        continue;
      }
      const run = this.#work(task);
      this.#running.add(run);
      await run;
      this.#running.delete(run);
    }
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakeups.off('wake', done);
        resolve();
      };
      const timer = setTimeout(done, this.#options.idleMs);
      this.#wakeups.once('wake', done);
    });
  }

  async #work(task: ClaimedTask): Promise<void> {
    const { queue, leaseMs, logger, hooks } = this.#options;
    const log = logger.child({
      taskId: task.id,
      instanceId: task.instanceId,
      kind: task.kind,
      workerId: this.workerId,
    });
    const flow = this.#flows.get(task.kind);
    const lease = new AbortController();
    const stopListener = () => lease.abort(this.#stop.signal.reason);
    this.#stop.signal.addEventListener('abort', stopListener, { once: true });
    const renewal = setInterval(
      () => {
        queue.renew(task.id, this.workerId, leaseMs).then(
          (owned) => {
            if (!owned) lease.abort(new Error('lease lost'));
          },
          (error: unknown) => log.warn({ err: error }, 'lease renewal failed; will retry'),
        );
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    let step = task.step ?? 'start';
    const data = { ...task.data };
    try {
      if (flow === undefined) throw new StepError(`no flow for task kind "${task.kind}"`);
      log.info({ resumeAfter: task.step ?? null, attempts: task.attempts }, 'task claimed');
      for (let index = nextStepIndex(flow, task.step); index < flow.steps.length; index++) {
        const current = flow.steps[index];
        if (current === undefined) break;
        step = current.name;
        const event = { taskId: task.id, instanceId: task.instanceId, kind: task.kind, step };
        await hooks.onStep?.({ ...event, phase: 'before' });
        if (lease.signal.aborted) throw lease.signal.reason;
        const started = performance.now();
        const output = await this.#runStep(
          () =>
            current.run({
              taskId: task.id,
              instanceId: task.instanceId,
              params: task.params,
              data,
              signal: lease.signal,
              deps: this.#options.deps,
            }),
          lease.signal,
        );
        Object.assign(data, output ?? {});
        await hooks.onStep?.({ ...event, phase: 'after' });
        if (lease.signal.aborted) throw lease.signal.reason;
        const owned = await queue.checkpoint(task.id, this.workerId, step, data);
        if (!owned) throw new LeaseLostError();
        log.debug({ step, ms: Math.round(performance.now() - started) }, 'step done');
      }
      const taskStatus = typeof data.finalTaskStatus === 'string' ? data.finalTaskStatus : 'NONE';
      await queue.finish(task.id, this.workerId, { ok: true, taskStatus });
      log.info('task done');
    } catch (error) {
      if (lease.signal.aborted || error instanceof LeaseLostError) {
        // Another worker owns the task now (or this process is stopping): leave it to them, write nothing.
        log.warn({ step }, 'stopped working a task: lease lost or stopping');
        return;
      }
      if (isTransientInfrastructureError(error)) {
        // The store or a connection went away under the step (a database restart): not the task's failure.
        // Leave the lease to lapse; the task resumes from its last checkpoint, and a step that had made
        // something (a server) finds it again by its idempotency key.
        log.warn({ step, err: error }, 'infrastructure unavailable mid-step; the task resumes when its lease lapses');
        return;
      }
      const fault = toFault(error, step);
      const taskStatus = (error instanceof StepError && error.options.taskStatus) || flow?.errorTaskStatus || 'ERROR';
      log.error({ step, taskStatus, fault: fault.message }, 'task failed');
      try {
        await queue.finish(task.id, this.workerId, { ok: false, taskStatus, fault });
      } catch (finishError) {
        log.error({ err: finishError }, 'recording the task failure failed; the lease will lapse and it runs again');
      }
    } finally {
      clearInterval(renewal);
      this.#stop.signal.removeEventListener('abort', stopListener);
    }
  }

  /** Runs a step, retrying transient provider errors (rate limits, unavailability) with back-off. */
  async #runStep<T>(run: () => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        const retryable = error instanceof ProviderError && error.retryable;
        if (!retryable || attempt >= this.#options.stepRetries || signal.aborted) throw error;
        const retryAfter = 'retryAfterMs' in error && typeof error.retryAfterMs === 'number' ? error.retryAfterMs : 0;
        await sleep(Math.max(retryAfter, Math.min(5_000, 150 * 2 ** attempt)), signal);
      }
    }
  }
}

const TRANSIENT_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/**
 * A lost connection to the store (PostgreSQL shutting down or restarting: SQLSTATE 57P01-57P03, class 08
 * connection exceptions, too many connections 53300; or the socket itself) rather than anything about the task.
 */
export function isTransientInfrastructureError(error: unknown): boolean {
  if (error instanceof StepError || error instanceof ProviderError) return false;
  const code = (error as { code?: unknown } | null)?.code;
  if (
    typeof code === 'string' &&
    (/^(57P0[1-3]|08[0-9A-Z]{3}|53300)$/.test(code) || TRANSIENT_SOCKET_CODES.has(code))
  ) {
    return true;
  }
  return error instanceof Error && /Connection terminated|connection error|terminating connection/i.test(error.message);
}

class LeaseLostError extends Error {
  readonly code = 'TASK_LEASE_LOST';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function toFault(error: unknown, step: string): TaskFault {
  const time = Date.now();
  if (error instanceof StepError) return { message: error.message, details: error.options.details, step, time };
  if (error instanceof ProviderError) {
    return { message: error.message, details: JSON.stringify(error.toJSON()), step, time };
  }
  if (error instanceof Error) return { message: error.message, details: error.name, step, time };
  return { message: String(error), step, time };
}
