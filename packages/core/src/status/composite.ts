import * as z from 'zod';
import type { ServerStatus } from '../provider/types.js';
import { type ServiceStatus, serviceStatuses } from './service-status.js';
import { type InstanceTaskAction, type InstanceTaskStatus, instanceTaskStatuses } from './task-status.js';

/** The status a user sees for an instance: one word made of the task, server and service statuses. */
export const instanceStatusNames = [
  'BUILD',
  'ACTIVE',
  'BLOCKED',
  'ERROR',
  'FAILED',
  'REBOOT',
  'RESIZE',
  'BACKUP',
  'SHUTDOWN',
  'RESTART_REQUIRED',
  'UPGRADE',
  'DELETED',
] as const;
export const InstanceStatus = z.enum(instanceStatusNames);
export type InstanceStatus = z.infer<typeof InstanceStatus>;

export interface CompositeStatusInput {
  taskStatus: InstanceTaskStatus;
  /** Last known server status; null while no server exists (before create, after a failed create). */
  serverStatus: ServerStatus | null;
  serviceStatus: ServiceStatus;
  /** A backup of this instance is running. */
  backupRunning?: boolean;
}

export interface CompositeStatus {
  status: InstanceStatus;
  /**
   * How the datastore itself is doing (Trove's `operating_status`): the service status, e.g. HEALTHY, when no
   * task runs and the server is ACTIVE; null otherwise (Trove's empty string), since a report made during a
   * task or with the server down says nothing reliable.
   */
  operatingStatus: ServiceStatus | null;
  /** Which rule of `compositeStatusRules` decided; for logs and for the tests. */
  rule: string;
}

interface Facts {
  task: InstanceTaskStatus;
  action: InstanceTaskAction;
  isError: boolean;
  server: ServerStatus | null;
  service: ServiceStatus;
  backupRunning: boolean;
}

interface Rule {
  id: string;
  when: (facts: Facts) => boolean;
  status: InstanceStatus | ((facts: Facts) => InstanceStatus);
}

const serverIn =
  (...statuses: (ServerStatus | null)[]) =>
  (facts: Facts) =>
    statuses.includes(facts.server);
const actionIs = (action: InstanceTaskAction) => (facts: Facts) => facts.action === action;

/**
 * Trove's `SimpleInstance.status` (trove/instance/models.py) as an ordered table: the first rule that matches
 * decides. Trove's order is kept: error task, the running task's action, backup, then the server; corral
 * adds the service status last (DESIGN: the composite is made of all three), where Trove stopped at the
 * server and showed the service only in `operating_status`. Differences, each fixing a bug of Trove's:
 * - no LOGGING / PROMOTE / EJECT / DETACH rows: replication is not modelled, and Trove's LOGGING row returns
 *   an InstanceStatus.LOGGING that does not exist (AttributeError);
 * - Trove compares server statuses with "SHUTDOWN", which Nova never reports, and misses SHUTOFF: a stopped
 *   server showed UNKNOWN, and being deleted showed ERROR. Here SHUTOFF, PAUSED and SUSPENDED read SHUTDOWN;
 * - while DELETING, every server status but ERROR and UNKNOWN reads SHUTDOWN (Trove: ERROR for a server
 *   still in BUILD, REBOOT or RESIZE, though nothing went wrong);
 * - HARD_REBOOT reads REBOOT (Trove: UNKNOWN);
 * - RESTARTING (a datastore restart) is its own task, read as REBOOT as Trove did for its restart.
 */
export const compositeStatusRules: readonly Rule[] = [
  { id: 'task-error', when: (f) => f.isError, status: 'ERROR' },
  { id: 'building-server-error', when: (f) => f.action === 'building' && f.server === 'ERROR', status: 'ERROR' },
  { id: 'building', when: actionIs('building'), status: 'BUILD' },
  { id: 'rebooting', when: actionIs('rebooting'), status: 'REBOOT' },
  { id: 'restarting', when: actionIs('restarting'), status: 'REBOOT' },
  { id: 'resizing', when: actionIs('resizing'), status: 'RESIZE' },
  { id: 'upgrading', when: actionIs('upgrading'), status: 'UPGRADE' },
  { id: 'restart-required', when: actionIs('restart_required'), status: 'RESTART_REQUIRED' },
  // Trove logs "While shutting down instance: server had status …" and shows ERROR.
  {
    id: 'deleting-server-failed',
    when: (f) => f.action === 'deleting' && serverIn('ERROR', 'UNKNOWN')(f),
    status: 'ERROR',
  },
  { id: 'deleting', when: actionIs('deleting'), status: 'SHUTDOWN' },
  { id: 'backup-running', when: (f) => f.backupRunning, status: 'BACKUP' },
  { id: 'server-build', when: serverIn('BUILD'), status: 'BUILD' },
  { id: 'server-error', when: serverIn('ERROR'), status: 'ERROR' },
  { id: 'server-reboot', when: serverIn('REBOOT', 'HARD_REBOOT'), status: 'REBOOT' },
  // As far as the user is concerned, VERIFY_RESIZE is still RESIZE.
  { id: 'server-resize', when: serverIn('RESIZE', 'VERIFY_RESIZE'), status: 'RESIZE' },
  { id: 'service-deleted', when: (f) => f.service === 'DELETED', status: 'DELETED' },
  { id: 'server-stopped', when: serverIn('SHUTOFF', 'PAUSED', 'SUSPENDED'), status: 'SHUTDOWN' },
  // The server vanished without a delete task: the instance cannot come back by itself.
  { id: 'server-vanished', when: serverIn('DELETED'), status: 'ERROR' },
  // The service is only paused during a reboot.
  { id: 'service-paused', when: (f) => f.service === 'PAUSED', status: 'REBOOT' },
  { id: 'service-new', when: (f) => f.service === 'NEW', status: 'BUILD' },
  // Server ACTIVE, UNKNOWN (Nova lost its compute host) or not known: the guest's own report decides.
  { id: 'service', when: () => true, status: (f) => serviceStatuses[f.service].apiStatus },
];

/** The user-facing status and operating status of an instance. Total: every input has exactly one answer. */
export function compositeStatus(input: CompositeStatusInput): CompositeStatus {
  const entry = instanceTaskStatuses[input.taskStatus];
  const facts: Facts = {
    task: input.taskStatus,
    action: entry.action,
    isError: entry.isError,
    server: input.serverStatus,
    service: input.serviceStatus,
    backupRunning: input.backupRunning ?? false,
  };
  for (const rule of compositeStatusRules) {
    if (rule.when(facts)) {
      const status = typeof rule.status === 'function' ? rule.status(facts) : rule.status;
      const operatingStatus =
        input.taskStatus === 'NONE' && input.serverStatus === 'ACTIVE' ? input.serviceStatus : null;
      return { status, operatingStatus, rule: rule.id };
    }
  }
  // Unreachable: the last rule matches everything.
  throw new Error('composite status table has no catch-all rule');
}
