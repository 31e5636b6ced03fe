import { type Ctx, GUEST_METHOD } from './common.js';
import type { FlowDeps } from './deps.js';
import { type Flow, StepError } from './flow.js';

/**
 * Trove's `update_overrides`: the guest writes the validated overrides and applies the dynamic ones live.
 * Static ones (the catalog says which) leave the instance RESTART_REQUIRED, as in Trove.
 */
export const updateConfigurationFlow: Flow<FlowDeps> = {
  kind: 'update_configuration',
  errorTaskStatus: 'UPDATE_CONFIGURATION_ERROR',
  steps: [
    {
      name: 'apply-configuration',
      async run(ctx: Ctx) {
        const overrides = (ctx.params.overrides ?? {}) as Record<string, string | number | boolean>;
        const restartRequired = Array.isArray(ctx.params.restartRequired) ? ctx.params.restartRequired.map(String) : [];
        const live = Object.fromEntries(Object.entries(overrides).filter(([name]) => !restartRequired.includes(name)));
        const options = (suffix: string) => ({
          timeoutMs: ctx.deps.timeouts.guestCallMs,
          requestId: `${ctx.taskId}:${suffix}`,
        });
        try {
          // Written to the configuration file first, so a restart keeps them; then applied live where allowed.
          await ctx.deps.guest.call(ctx.instanceId, GUEST_METHOD.writeConfiguration, { overrides }, options('write'));
          if (Object.keys(live).length > 0) {
            await ctx.deps.guest.call(
              ctx.instanceId,
              GUEST_METHOD.applyConfiguration,
              { overrides: live },
              options('apply'),
            );
          }
        } catch (error) {
          throw new StepError(`the guest could not apply the configuration: ${(error as Error).message}`, {
            taskStatus: 'UPDATE_CONFIGURATION_ERROR',
            cause: error,
          });
        }
        return { finalTaskStatus: restartRequired.length > 0 ? 'RESTART_REQUIRED' : 'NONE' };
      },
    },
  ],
};
