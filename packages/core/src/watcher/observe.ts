import type { Instance, InstanceFault, InstancePatch } from '../instance/models.js';
import type { Server } from '../provider/types.js';
import type { InstanceTaskStatus } from '../status/task-status.js';

/** The `step` of faults the watcher writes; it clears only those, never a task's. */
export const SERVER_WATCH_STEP = 'watch-server';

/**
 * Task statuses under which the watcher writes. Any other task owns the server while it runs (a reboot passes
 * through SHUTOFF, a resize through RESIZE) and ends by setting one of these; a failed task's status (…_ERROR)
 * keeps its own fault, which says more than the server's status would.
 */
export const WATCHABLE_TASK_STATUSES: readonly InstanceTaskStatus[] = ['NONE', 'RESTART_REQUIRED'];

/** What one look at the provider found for an instance's server. */
export type ServerObservation = { kind: 'found'; server: Server } | { kind: 'gone' };

/** An instance the watcher may write: live, idle, with a server. */
export function isWatchable(instance: Instance): boolean {
  return (
    instance.deletedAt === null && instance.serverId !== null && WATCHABLE_TASK_STATUSES.includes(instance.taskStatus)
  );
}

/**
 * The patch that makes the instance say what the provider said, or undefined when it already does. A server in
 * ERROR or gone gets a fault naming the server and the provider's words; a server back from either loses the
 * fault the watcher wrote.
 */
export function serverStatusPatch(
  instance: Instance,
  observation: ServerObservation,
  now: number,
): InstancePatch | undefined {
  const status = observation.kind === 'gone' ? 'DELETED' : observation.server.status;
  let fault: InstanceFault | null = null;
  if (observation.kind === 'gone') {
    fault = {
      message: `server ${instance.serverId} is gone from provider ${instance.provider}; it was not deleted through corral`,
      step: SERVER_WATCH_STEP,
      time: now,
    };
  } else if (status === 'ERROR') {
    const providerFault = observation.server.fault;
    fault = {
      message: providerFault?.message
        ? `server ${instance.serverId} is in ERROR: ${providerFault.message}`
        : `server ${instance.serverId} is in ERROR`,
      ...(providerFault !== undefined && { details: JSON.stringify(providerFault) }),
      step: SERVER_WATCH_STEP,
      time: now,
    };
  }
  const ownFault = instance.fault !== null && instance.fault.step === SERVER_WATCH_STEP;
  const patch: InstancePatch = {};
  if (instance.serverStatus !== status) patch.serverStatus = status;
  if (fault !== null) {
    // Keep the first time of a fault that says the same thing: rounds must not rewrite an unchanged fault.
    if (!ownFault && instance.fault !== null) {
      // A fault of someone else's on an idle instance: the server's news replaces it only on a change.
      if (patch.serverStatus !== undefined) patch.fault = fault;
    } else if (instance.fault?.message !== fault.message || instance.fault?.details !== fault.details) {
      patch.fault = fault;
    }
  } else if (ownFault) {
    patch.fault = null;
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}
