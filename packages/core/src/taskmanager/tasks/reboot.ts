import { awaitHealthyStep, type Ctx, loadInstance, markStep, stopDatastoreStep } from './common.js';
import type { FlowDeps } from './deps.js';
import { type Flow, StepError } from './flow.js';

/**
 * Trove's `reboot`: stop the datastore (best effort), reboot the server, then wait for the guest to come back
 * with a HEALTHY report newer than the one before the reboot.
 */
export const rebootFlow: Flow<FlowDeps> = {
  kind: 'reboot',
  errorTaskStatus: 'REBOOT_ERROR',
  steps: [
    markStep(),
    stopDatastoreStep(),
    {
      name: 'reboot-server',
      async run(ctx: Ctx) {
        const instance = await loadInstance(ctx);
        if (!instance.serverId) throw new StepError('the instance has no server to reboot');
        await ctx.deps
          .provider(instance.provider)
          .rebootServer(instance.serverId, { hard: ctx.params.hard === true, signal: ctx.signal });
        return undefined;
      },
    },
    awaitHealthyStep('REBOOT_ERROR', 'waiting for the guest to come back after a reboot', {
      newBoot: true,
    }),
  ],
};
