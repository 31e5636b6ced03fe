import { type Ctx, GUEST_METHOD } from './common.js';
import type { FlowDeps } from './deps.js';
import { type Flow, StepError } from './flow.js';

/**
 * Trove's `update_overrides`: the guest applies the validated overrides. Those it cannot apply live leave
 * the instance RESTART_REQUIRED (the guest says which), as Trove does for static parameters.
 */
export const updateConfigurationFlow: Flow<FlowDeps> = {
  kind: 'update_configuration',
  errorTaskStatus: 'UPDATE_CONFIGURATION_ERROR',
  steps: [
    {
      name: 'apply-configuration',
      async run(ctx: Ctx) {
        let result: unknown;
        try {
          result = await ctx.deps.guest.call(
            ctx.instanceId,
            GUEST_METHOD.applyConfiguration,
            { overrides: ctx.params.overrides ?? {} },
            { timeoutMs: ctx.deps.timeouts.guestCallMs, requestId: `${ctx.taskId}:apply` },
          );
        } catch (error) {
          throw new StepError(`the guest could not apply the configuration: ${(error as Error).message}`, {
            taskStatus: 'UPDATE_CONFIGURATION_ERROR',
            cause: error,
          });
        }
        const restartRequired =
          typeof result === 'object' &&
          result !== null &&
          (result as { restartRequired?: unknown }).restartRequired === true;
        return { finalTaskStatus: restartRequired ? 'RESTART_REQUIRED' : 'NONE' };
      },
    },
  ],
};
