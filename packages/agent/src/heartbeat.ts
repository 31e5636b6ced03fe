import type { Heartbeat } from '@corral/core/contract';
import type { StatusReport } from './manager/types.js';
import type { VolumeStats } from './volume/volume.js';

/**
 * The heartbeat the agent casts to `corral/v1/guest/{id}/conductor` (core's conductor `heartbeat` message): the
 * instance it speaks for and the service status from the manager's probe; `payload.first` marks the one sent
 * right after connecting, before any prepare ("booted", not "dead"), `payload.detail` says why for FAILED or
 * CRASHED, `payload.volume` the data volume's size and use (Trove's get_filesystem_stats, pushed instead of
 * polled). Ordering is the transport's (bootId, seq), not a timestamp.
 */
export function heartbeatArgs(
  instanceId: string,
  report: StatusReport,
  first = false,
  volume?: VolumeStats,
): Heartbeat {
  return {
    instanceId,
    serviceStatus: report.status,
    payload: {
      ...(report.detail !== undefined ? { detail: report.detail } : {}),
      ...(first ? { first: true } : {}),
      ...(volume
        ? {
            volume: {
              totalBytes: volume.totalBytes,
              usedBytes: volume.usedBytes,
              freeBytes: volume.freeBytes,
              deviceBytes: volume.deviceBytes,
            },
          }
        : {}),
    },
  };
}
