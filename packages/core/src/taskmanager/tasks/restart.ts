import { awaitHealthyStep, type Ctx, GUEST_METHOD, markStep } from './common.js';
import type { FlowDeps } from './deps.js';
import { type Flow, StepError } from './flow.js';

/** Trove's `restart`: the guest restarts its datastore, then the task waits for a fresh HEALTHY report. */
export const restartFlow: Flow<FlowDeps> = {
  kind: 'restart',
  errorTaskStatus: 'RESTART_ERROR',
  steps: [
    markStep(),
    {
      name: 'restart-datastore',
      async run(ctx: Ctx) {
        try {
          await ctx.deps.guest.call(
            ctx.instanceId,
            GUEST_METHOD.restart,
            {},
            {
              timeoutMs: ctx.deps.timeouts.guestCallMs,
              requestId: `${ctx.taskId}:restart`,
            },
          );
        } catch (error) {
          throw new StepError(`the guest could not restart the datastore: ${(error as Error).message}`, {
            taskStatus: 'RESTART_ERROR',
            cause: error,
          });
        }
        return undefined;
      },
    },
    awaitHealthyStep('RESTART_ERROR', 'waiting for the datastore to come back after a restart'),
  ],
};
