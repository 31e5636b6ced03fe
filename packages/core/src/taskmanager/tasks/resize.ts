import { awaitHealthyStep, type Ctx, loadInstance, markStep, stopDatastoreStep } from './common.js';
import type { FlowDeps } from './deps.js';
import { type Flow, StepError } from './flow.js';

/**
 * Trove's `resize_flavor`: stop the datastore (best effort), resize the server, wait for the guest to report
 * HEALTHY again, then record the new flavor. The instance keeps its old flavor until the resize is proven.
 */
export const resizeFlow: Flow<FlowDeps> = {
  kind: 'resize',
  errorTaskStatus: 'RESIZE_ERROR',
  steps: [
    markStep(),
    stopDatastoreStep(),
    {
      name: 'resize-server',
      async run(ctx: Ctx) {
        const instance = await loadInstance(ctx);
        const flavor = ctx.params.flavor;
        if (typeof flavor !== 'string') throw new StepError('resize task has no flavor');
        if (!instance.serverId) throw new StepError('the instance has no server to resize');
        await ctx.deps.provider(instance.provider).resizeServer(instance.serverId, flavor, { signal: ctx.signal });
        return undefined;
      },
    },
    awaitHealthyStep('RESIZE_ERROR', 'waiting for the guest to come back after a resize', {
      newBoot: true,
    }),
    {
      name: 'record-flavor',
      async run(ctx: Ctx) {
        await ctx.deps.instances.update(ctx.instanceId, { flavor: String(ctx.params.flavor) });
        return undefined;
      },
    },
  ],
};
