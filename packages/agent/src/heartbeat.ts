import type { StatusReport } from './manager/types.js';

/**
 * The heartbeat the agent casts to `corral/v1/guest/{id}/conductor` (Trove's conductor `heartbeat`): the
 * instance it speaks for and the service status from the manager's probe. Ordering is the transport's
 * (bootId, seq), not a timestamp.
 */
export interface HeartbeatArgs {
  instanceId: string;
  serviceStatus: StatusReport['status'];
  detail?: string;
  /** True for the heartbeat sent right after connecting, before any prepare: "booted", not "dead". */
  first?: boolean;
}

export function heartbeatArgs(instanceId: string, report: StatusReport, first = false): HeartbeatArgs {
  return {
    instanceId,
    serviceStatus: report.status,
    ...(report.detail !== undefined ? { detail: report.detail } : {}),
    ...(first ? { first: true } : {}),
  };
}
