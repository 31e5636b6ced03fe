import type { GuestMethodName } from '../../guest/contract.js';
import type { FlowDeps, FlowInstance, ServiceStatusMark } from './deps.js';
import { type Step, type StepContext, StepError } from './flow.js';
import { awaitHealthy } from './waits.js';

/** Steps several flows share. */

export type Ctx = StepContext<FlowDeps>;

/** Guest RPC method names (the guest contract's names; one place to change them). */
export const GUEST_METHOD = {
  prepare: 'prepare',
  restart: 'restart',
  stop: 'stop_db',
  /** Writes overrides to the configuration file (effective after a restart). */
  writeConfiguration: 'update_overrides',
  /** Applies overrides to the running datastore, where it allows. */
  applyConfiguration: 'apply_overrides',
} as const satisfies Record<string, GuestMethodName>;

export async function loadInstance(ctx: Ctx): Promise<FlowInstance> {
  const instance = await ctx.deps.instances.get(ctx.instanceId);
  if (instance === undefined) throw new StepError(`instance ${ctx.instanceId} is gone`);
  return instance;
}

/** Remembers the current (bootId, seq), so a later wait only accepts statuses reported after this point. */
export async function statusMark(ctx: Ctx): Promise<{ statusMark: ServiceStatusMark | null }> {
  const mark = await ctx.deps.instances.serviceStatus(ctx.instanceId);
  return { statusMark: mark ?? null };
}

/** Asks the guest to stop its datastore; a guest that does not answer is no reason to stop (best effort). */
export function stopDatastoreStep(name = 'stop-datastore'): Step<FlowDeps> {
  return {
    name,
    async run(ctx) {
      try {
        await ctx.deps.guest.call(
          ctx.instanceId,
          GUEST_METHOD.stop,
          {},
          {
            timeoutMs: ctx.deps.timeouts.guestCallMs,
            requestId: `${ctx.taskId}:${name}`,
          },
        );
        return { datastoreStopped: true };
      } catch {
        return { datastoreStopped: false };
      }
    },
  };
}

/** Waits for a HEALTHY status newer than the checkpointed mark, within `timeouts.recoverMs` of the mark. */
export function awaitHealthyStep(
  errorStatus: string,
  what: string,
  options: { name?: string; withServer?: boolean; newBoot?: boolean } = {},
): Step<FlowDeps> {
  return {
    name: options.name ?? 'await-healthy',
    async run(ctx) {
      const instance = await loadInstance(ctx);
      const deadlineAt =
        typeof ctx.data.deadlineAt === 'number' ? ctx.data.deadlineAt : Date.now() + ctx.deps.timeouts.recoverMs;
      const after = (ctx.data.statusMark ?? undefined) as ServiceStatusMark | undefined;
      const mark = await awaitHealthy(ctx.deps, {
        instanceId: ctx.instanceId,
        deadlineAt,
        after,
        newBoot: options.newBoot,
        server:
          options.withServer !== false && instance.serverId
            ? { provider: ctx.deps.provider(instance.provider), id: instance.serverId }
            : undefined,
        timeoutStatus: errorStatus,
        guestFailedStatus: errorStatus,
        serverErrorStatus: errorStatus,
        signal: ctx.signal,
        what,
      });
      return { healthyAt: { bootId: mark.bootId ?? null, seq: mark.seq ?? null } };
    },
  };
}

/** Records the (bootId, seq) now and the deadline of the wait to come, so a resumed worker keeps both. */
export function markStep(name = 'mark'): Step<FlowDeps> {
  return {
    name,
    async run(ctx) {
      return { ...(await statusMark(ctx)), deadlineAt: Date.now() + ctx.deps.timeouts.recoverMs };
    },
  };
}
