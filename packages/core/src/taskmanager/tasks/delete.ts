import { NotFoundError } from '../../provider/errors.js';
import { type Ctx, GUEST_METHOD, loadInstance } from './common.js';
import type { FlowDeps } from './deps.js';
import { type Flow, StepError } from './flow.js';
import { awaitServerGone } from './waits.js';

/**
 * Trove's `_delete_resources`: ask the datastore to stop (best effort) → revoke the guest's certificate →
 * delete the server → wait until it is gone → mark the instance deleted. Each step tolerates having run before
 * (a server already gone, a serial already revoked), so a resumed delete finishes and leaks nothing.
 *
 * The stop is a cast, not a call, and revocation follows it at once: a guest that never answers `stop_db` must
 * not keep its broker access for `guestCallMs` (the broker delivers the cast before it drops the guest, so a
 * live agent still stops its datastore; nobody waits for it to say so).
 */

async function serverOf(ctx: Ctx) {
  const instance = await loadInstance(ctx);
  return { instance, provider: ctx.deps.provider(instance.provider) };
}

export const deleteFlow: Flow<FlowDeps> = {
  kind: 'delete',
  errorTaskStatus: 'DELETE_ERROR',
  steps: [
    {
      name: 'stop-datastore',
      async run(ctx) {
        try {
          await ctx.deps.guest.cast(ctx.instanceId, GUEST_METHOD.stop, {}, `${ctx.taskId}:stop-datastore`);
          return { stopSent: true };
        } catch {
          return { stopSent: false };
        }
      },
    },
    {
      name: 'revoke-certificate',
      async run(ctx) {
        const revoked = await ctx.deps.identity.revokeAll(ctx.instanceId, 'instance deleted');
        return { revoked };
      },
    },
    {
      name: 'delete-server',
      async run(ctx) {
        const { instance, provider } = await serverOf(ctx);
        // A create that died before recording its server id may still have made one: its key is the create
        // task's id, kept on the instance as `createTaskId` by the service when it made the create task.
        let serverId = instance.serverId ?? undefined;
        if (!serverId && typeof ctx.params.createTaskId === 'string') {
          serverId = (await provider.findServerByIdempotencyKey(ctx.params.createTaskId, { signal: ctx.signal }))?.id;
        }
        if (!serverId) return { serverId: null };
        try {
          await provider.deleteServer(serverId, { signal: ctx.signal });
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
        }
        return { serverId, deadlineAt: Date.now() + ctx.deps.timeouts.deleteMs };
      },
    },
    {
      name: 'await-server-gone',
      async run(ctx) {
        const serverId = ctx.data.serverId;
        if (typeof serverId !== 'string') return undefined;
        const { provider } = await serverOf(ctx);
        await awaitServerGone(provider, serverId, {
          deadlineAt: Number(ctx.data.deadlineAt),
          pollMs: ctx.deps.timeouts.providerPollMs,
          signal: ctx.signal,
          errorStatus: 'DELETE_ERROR',
        });
        return undefined;
      },
    },
    {
      name: 'mark-deleted',
      async run(ctx) {
        const instance = await ctx.deps.instances.get(ctx.instanceId);
        if (instance === undefined) throw new StepError(`instance ${ctx.instanceId} is gone`);
        // The guest is gone: its retained birth/death would otherwise stay in the broker for good.
        await ctx.deps.guest.clearState?.(ctx.instanceId).catch(() => undefined);
        await ctx.deps.instances.markDeleted(ctx.instanceId);
        return undefined;
      },
    },
  ],
};
