/**
 * A flow is Trove's `FreshInstanceTasks.create_instance` (or `_delete_resources`, `reboot`, …) cut into named
 * steps. The worker checkpoints after each step, so a worker killed anywhere leaves a task that another
 * worker resumes at the first step not yet checkpointed. Every step must therefore be safe to run again
 * (its side effect may have happened just before the kill): each one first looks for what it would make.
 */

/** Data a flow carries from step to step; stored with the task (never secrets: see create.ts). */
export type FlowData = Record<string, unknown>;

export interface StepContext<D> {
  readonly taskId: string;
  readonly instanceId: string;
  /** The task's request parameters (what `resize` asked for, …). */
  readonly params: Record<string, unknown>;
  /** Data checkpointed by earlier steps. */
  readonly data: FlowData;
  /** Aborts when the worker loses its lease or stops: stop at once, another worker owns the task now. */
  readonly signal: AbortSignal;
  readonly deps: D;
}

export interface Step<D> {
  /** Stable: stored as the checkpoint and used by the crash tests' hooks. */
  readonly name: string;
  /** Returns data to merge into the checkpoint. */
  run(ctx: StepContext<D>): Promise<FlowData | undefined>;
}

export interface Flow<D> {
  readonly kind: string;
  readonly steps: readonly Step<D>[];
  /** Task status when a step fails; a step may throw a StepError naming a more specific one. */
  readonly errorTaskStatus: string;
}

/** A step failed for a reason worth naming: the task ends in `taskStatus` with this fault. */
export class StepError extends Error {
  readonly code = 'TASK_STEP_FAILED';
  constructor(
    message: string,
    readonly options: { taskStatus?: string; details?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'StepError';
  }
}

/** The fault kept on a task and its instance when a flow fails: what, why, at which step, when. */
export interface TaskFault {
  message: string;
  details?: string;
  step: string;
  /** Epoch milliseconds. */
  time: number;
}

/** The index of the step to run next: the one after the last checkpointed. */
export function nextStepIndex<D>(flow: Flow<D>, checkpointedStep: string | undefined | null): number {
  if (checkpointedStep === undefined || checkpointedStep === null || checkpointedStep === '') return 0;
  const index = flow.steps.findIndex((step) => step.name === checkpointedStep);
  if (index < 0) throw new Error(`task of kind ${flow.kind} checkpointed at unknown step "${checkpointedStep}"`);
  return index + 1;
}
