import type { PrepareArgs } from '../../guest/contract.js';
import { ProviderError, ProvisioningFailedError } from '../../provider/errors.js';
import type { Bootstrap } from '../../provider/types.js';
import type { InstanceTaskStatus } from '../../status/task-status.js';
import { GUEST_METHOD } from './common.js';
import type { FlowDeps, FlowInstance, GuestIdentity, ServiceStatusMark } from './deps.js';
import { type Flow, type StepContext, StepError } from './flow.js';
import { awaitHealthy, retryTransient, watchForError } from './waits.js';

/**
 * Trove's `FreshInstanceTasks.create_instance`, as checkpointed steps:
 *
 *   issue-identity → build-bootstrap → create-server → deliver-prepare → await-healthy
 *
 * Secrets stay out of the task's row: the guest's private key and the user-data carrying it live only in the
 * worker's memory (`deps.secrets`). A worker resuming at build-bootstrap or create-server without them mints
 * a new identity and revokes the one recorded before, unless the server already exists (found by the task id,
 * its idempotency key), in which case the guest already holds its key and nothing is minted.
 */

export const CREATE_TASK_STATUSES = {
  running: 'BUILDING',
  error: 'BUILDING_ERROR_SERVER',
  identityError: 'BUILDING_ERROR_SERVER',
  providerRefused: 'BUILDING_ERROR_PROVIDER',
  serverError: 'BUILDING_ERROR_SERVER',
  guestFailed: 'BUILDING_ERROR_PREPARE',
  timeout: 'BUILDING_ERROR_TIMEOUT_GA',
} as const satisfies Record<string, InstanceTaskStatus>;

type Ctx = StepContext<FlowDeps>;

async function loadInstance(ctx: Ctx): Promise<FlowInstance> {
  const instance = await ctx.deps.instances.get(ctx.instanceId);
  if (instance === undefined) throw new StepError(`instance ${ctx.instanceId} is gone`);
  return instance;
}

/** Mints the guest's identity and records its serial; revokes an identity minted by a worker that died. */
async function mintIdentity(ctx: Ctx): Promise<GuestIdentity> {
  // An identity minted by a worker that died holding its key is of no use to anyone: revoke it.
  await ctx.deps.identity.revokeAll(ctx.instanceId, 'superseded: the worker holding its key died');
  let identity: GuestIdentity;
  try {
    identity = await ctx.deps.identity.issue(ctx.instanceId);
  } catch (error) {
    throw new StepError(`issuing the guest's certificate failed: ${(error as Error).message}`, {
      taskStatus: CREATE_TASK_STATUSES.identityError,
      cause: error,
    });
  }
  ctx.deps.secrets.set(ctx.taskId, { identity });
  return identity;
}

async function ensureBootstrap(ctx: Ctx): Promise<Bootstrap> {
  let held = ctx.deps.secrets.get(ctx.taskId);
  if (held === undefined) {
    await mintIdentity(ctx);
    held = ctx.deps.secrets.get(ctx.taskId);
  }
  if (held === undefined) throw new StepError('guest identity vanished from memory');
  if (held.bootstrap === undefined) {
    held.bootstrap = ctx.deps.bootstrap(await loadInstance(ctx), held.identity);
  }
  return held.bootstrap;
}

async function prepareArgs(ctx: Ctx, instance: FlowInstance): Promise<PrepareArgs> {
  const provider = ctx.deps.provider(instance.provider);
  const flavors = await provider.listFlavors({ signal: ctx.signal });
  const flavor = flavors.find((f) => f.id === instance.flavor || f.name === instance.flavor);
  return {
    datastore: instance.datastore,
    memoryMb: flavor?.ramMb ?? 1024,
    overrides: instance.configuration as PrepareArgs['overrides'],
    volume: instance.volumeSizeGb ? await dataVolumeSpec(ctx, instance, instance.volumeSizeGb) : null,
  };
}

/** The data volume as the guest must find it: by the serial the provider gave it (read from the server). */
export async function dataVolumeSpec(
  ctx: Ctx,
  instance: FlowInstance,
  sizeGb: number,
): Promise<NonNullable<PrepareArgs['volume']>> {
  const serverId = typeof ctx.data.serverId === 'string' ? ctx.data.serverId : instance.serverId;
  if (!serverId) throw new StepError('the instance has no server yet: its data volume cannot be named');
  const server = await ctx.deps.provider(instance.provider).getServer(serverId, { signal: ctx.signal });
  const volume = server.volumes?.[0];
  if (volume === undefined) {
    throw new StepError(`the provider reports no data volume on server ${serverId}`, {
      taskStatus: 'BUILDING_ERROR_VOLUME',
    });
  }
  return { serial: volume.serial, sizeGb };
}

/** Statuses of a guest that has not been prepared (or whose prepare was cut off by its restart). */
const UNPREPARED = new Set(['INSTANCE_READY', 'FAILED']);

/**
 * A guest agent restarted while prepare ran (a crash, the VM rebooted) comes back on a new boot, not prepared:
 * INSTANCE_READY, or FAILED because its manager saw the cut-off prepare. Its journal refuses to run the old
 * request again (`REQUEST_INTERRUPTED`: the agent never re-runs a request it cannot know the state of), so
 * the task, which still holds what prepare needs, sends prepare again to the new boot, under a request id of
 * that boot: a resumed worker that sends it twice meets the agent's journal, which runs it once. Both
 * managers' prepare starts from nothing (stops a left-over server, wipes the data dir), so a repeat is safe.
 *
 * Until the new boot has started that prepare (any status but INSTANCE_READY/FAILED), its FAILED statuses
 * are about the cut-off one and are not the create's verdict; a HEALTHY from it (it restarted after prepare
 * finished) is. Statuses of the boot first prepared are judged as ever.
 */
export function reprepareOnNewBoot(
  ctx: Ctx,
  instance: FlowInstance,
): (mark: ServiceStatusMark) => 'ignore' | undefined {
  const preparedBootId = typeof ctx.data.preparedBootId === 'string' ? ctx.data.preparedBootId : undefined;
  /** Per later boot: when prepare was last sent to it, or 'started' once it reported anything else. */
  const reprepared = new Map<string, number | 'started'>();
  const send = (bootId: string) => {
    reprepared.set(bootId, Date.now());
    void prepareArgs(ctx, instance)
      .then((args) => {
        // The step may have ended (HEALTHY, a timeout, the lease lost) while the flavors were read: a prepare
        // cast now would reach a guest no task follows any more.
        if (ctx.signal.aborted) return;
        return ctx.deps.guest.cast(ctx.instanceId, GUEST_METHOD.prepare, args, `${ctx.taskId}:prepare:${bootId}`);
      })
      .catch(() => {
        // Not sent (broker down, provider unreachable): the boot's next status asks again.
        reprepared.delete(bootId);
      });
  };
  return (mark) => {
    const bootId = mark.bootId ?? undefined;
    if (bootId === undefined || bootId === preparedBootId || mark.status === 'HEALTHY') return undefined;
    const state = reprepared.get(bootId);
    if (state === 'started') return undefined;
    if (!UNPREPARED.has(mark.status)) {
      if (state !== undefined) reprepared.set(bootId, 'started');
      return undefined;
    }
    // Sent and not started yet: a cast is at-least-once only while the guest is connected, so it is sent
    // again now and then; the agent's journal runs one request id once.
    if (state === undefined || Date.now() - state >= RESEND_PREPARE_MS) send(bootId);
    return 'ignore';
  };
}

/** How long a restarted guest may stay unprepared after a prepare was sent to it before it is sent again. */
const RESEND_PREPARE_MS = 5_000;

export const createFlow: Flow<FlowDeps> = {
  kind: 'create',
  errorTaskStatus: CREATE_TASK_STATUSES.error,
  steps: [
    {
      name: 'issue-identity',
      async run(ctx) {
        const identity = await mintIdentity(ctx);
        return { certificateSerial: identity.serial };
      },
    },
    {
      name: 'build-bootstrap',
      async run(ctx) {
        await ensureBootstrap(ctx);
        const held = ctx.deps.secrets.get(ctx.taskId);
        return { certificateSerial: held?.identity.serial };
      },
    },
    {
      name: 'create-server',
      async run(ctx) {
        const instance = await loadInstance(ctx);
        const provider = ctx.deps.provider(instance.provider);
        // A retry (or a resumed task) finds the server the first attempt made instead of making a second.
        let server = await provider.findServerByIdempotencyKey(ctx.taskId, { signal: ctx.signal });
        if (server?.status === 'SHUTOFF') {
          // The attempt that made it was cut off before powering it on (libvirtd restarted between define and
          // start): power it on. A hard reboot is the one call every provider has that starts a stopped server.
          await provider.rebootServer(server.id, { hard: true, signal: ctx.signal });
          server = await provider.getServer(server.id, { signal: ctx.signal });
        }
        if (server === undefined) {
          const bootstrap = await ensureBootstrap(ctx);
          server = await provider
            .createServer(
              {
                name: instance.name,
                idempotencyKey: ctx.taskId,
                flavor: instance.flavor,
                image: instance.image,
                bootstrap,
                volumeSizeGb: instance.volumeSizeGb,
                metadata: { 'corral-instance-id': instance.id },
              },
              { signal: ctx.signal },
            )
            .catch((error: unknown) => {
              if (!(error instanceof ProviderError) || error.retryable) throw error;
              throw new StepError(`the provider refused to create the server: ${error.message}`, {
                taskStatus:
                  error instanceof ProvisioningFailedError
                    ? CREATE_TASK_STATUSES.serverError
                    : CREATE_TASK_STATUSES.providerRefused,
                details: JSON.stringify(error.toJSON()),
                cause: error,
              });
            });
        }
        ctx.deps.secrets.delete(ctx.taskId);
        await ctx.deps.instances.update(ctx.instanceId, { serverId: server.id });
        if (server.status === 'ERROR') {
          throw new StepError(server.fault?.message ?? 'the provider reported the new server in ERROR', {
            taskStatus: CREATE_TASK_STATUSES.serverError,
            details: JSON.stringify({ serverId: server.id, fault: server.fault ?? null }),
          });
        }
        return { serverId: server.id, deadlineAt: Date.now() + ctx.deps.timeouts.buildMs };
      },
    },
    {
      // Prepare goes out when the guest's birth arrives: the retained birth on its state topic means a guest
      // that connected before this step ran (or before a resumed worker subscribed) is seen at once, and one
      // that connects later triggers it then. See docs in control-plane.ts ("prepare delivery").
      name: 'deliver-prepare',
      async run(ctx) {
        const instance = await loadInstance(ctx);
        const serverId = String(ctx.data.serverId);
        const deadlineAt = Number(ctx.data.deadlineAt);
        const provider = ctx.deps.provider(instance.provider);
        const local = new AbortController();
        const onAbort = () => local.abort(ctx.signal.reason);
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        let off: () => void = () => {};
        try {
          const birth = new Promise<{ bootId: string }>((resolve) => {
            off = ctx.deps.presence.onBirth(ctx.instanceId, resolve);
          });
          const outcome = await Promise.race([
            birth,
            watchForError(provider, serverId, ctx.deps.timeouts.providerPollMs, local.signal).then(
              (server) =>
                new StepError(server.fault?.message ?? 'the server went to ERROR while booting', {
                  taskStatus: CREATE_TASK_STATUSES.serverError,
                  details: JSON.stringify({ serverId, fault: server.fault ?? null }),
                }),
            ),
            new Promise<StepError>((resolve) => {
              const timer = setTimeout(
                () =>
                  resolve(
                    new StepError('timed out waiting for the guest agent to connect', {
                      taskStatus: CREATE_TASK_STATUSES.timeout,
                      details: `no birth message from the guest by ${new Date(deadlineAt).toISOString()}`,
                    }),
                  ),
                Math.max(0, deadlineAt - Date.now()),
              );
              local.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
            }),
            new Promise<never>((_, reject) => {
              local.signal.addEventListener('abort', () => reject(local.signal.reason), { once: true });
            }),
          ]);
          if (outcome instanceof Error) throw outcome;
          const prepare = await prepareArgs(ctx, instance);
          await ctx.deps.guest.cast(ctx.instanceId, GUEST_METHOD.prepare, prepare, `${ctx.taskId}:prepare`);
          return { preparedBootId: outcome.bootId };
        } finally {
          off();
          local.abort(new Error('step over'));
          ctx.signal.removeEventListener('abort', onAbort);
        }
      },
    },
    {
      name: 'await-healthy',
      async run(ctx) {
        const instance = await loadInstance(ctx);
        await awaitHealthy(ctx.deps, {
          onStatus: reprepareOnNewBoot(ctx, instance),
          instanceId: ctx.instanceId,
          deadlineAt: Number(ctx.data.deadlineAt),
          server: { provider: ctx.deps.provider(instance.provider), id: String(ctx.data.serverId) },
          timeoutStatus: CREATE_TASK_STATUSES.timeout,
          guestFailedStatus: CREATE_TASK_STATUSES.guestFailed,
          serverErrorStatus: CREATE_TASK_STATUSES.serverError,
          signal: ctx.signal,
          what: 'waiting for the guest to prepare its datastore',
        });
        // Record the server's status for the view once the provider says ACTIVE. Anything earlier would be
        // stale at once (nothing follows the server after this task), and a stale BUILD would hold the
        // composite status at BUILD while the guest is HEALTHY.
        const provider = ctx.deps.provider(instance.provider);
        const server = await retryTransient(
          () => provider.getServer(String(ctx.data.serverId), { signal: ctx.signal }),
          {
            deadlineAt: Math.min(Number(ctx.data.deadlineAt), Date.now() + 10 * ctx.deps.timeouts.providerPollMs),
            baseMs: ctx.deps.timeouts.providerPollMs,
            signal: ctx.signal,
          },
        ).catch(() => undefined);
        if (server?.status === 'ACTIVE') await ctx.deps.instances.update(ctx.instanceId, { serverStatus: 'ACTIVE' });
        return undefined;
      },
    },
  ],
};
