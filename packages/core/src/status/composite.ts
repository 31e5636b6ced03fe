import { z } from 'zod';
import type { ServerStatus } from '../provider/types.js';
import { type ServiceStatus, serviceStatuses } from './service-status.js';
import { type InstanceTaskAction, type InstanceTaskStatus, instanceTaskStatuses } from './task-status.js';

/** The status a user sees for an instance: one word made of the task, server and service statuses. */
export const instanceStatusNames = [
  'BUILD',
  'ACTIVE',
  'HEALTHY',
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
   * How the datastore itself is doing, apart from what is being done to the instance (Trove's
   * `operating_status`): the service status name, e.g. HEALTHY while status is BACKUP.
   */
  operatingStatus: ServiceStatus;
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
 * Trove's `SimpleInstance.status`, as an ordered table: the first rule that matches decides. Differences from
 * Trove, each a bug there:
 * - no LOGGING / PROMOTE / EJECT / DETACH rows (replication is not modelled; Trove's LOGGING row names an
 *   InstanceStatus that does not exist and raises);
 * - while DELETING, Trove accepts server statuses "SHUTDOWN" and "HEALTHY", which Nova never reports, and
 *   misses SHUTOFF: a stopped server being deleted showed ERROR. Here SHUTOFF, PAUSED, SUSPENDED, DELETED and
 *   "no server" all read SHUTDOWN;
 * - HARD_REBOOT reads REBOOT (Trove let it fall through to the service status);
 * - a server known to be off (SHUTOFF/PAUSED/SUSPENDED) reads SHUTDOWN even if the last heartbeat said
 *   RUNNING, and a server that vanished (DELETED) without a delete task reads ERROR: Trove showed the stale
 *   service status until the heartbeat expired;
 * - RESTARTING (datastore restart) is its own task, read as REBOOT as Trove did for its restart.
 */
export const compositeStatusRules: readonly Rule[] = [
  { id: 'task-error', when: (f) => f.isError, status: 'ERROR' },
  // A reset or force delete: the guest is beyond reach, the instance is going away.
  {
    id: 'deleting-unknown-service',
    when: (f) => f.action === 'deleting' && f.service === 'UNKNOWN',
    status: 'SHUTDOWN',
  },
  { id: 'building-server-error', when: (f) => f.action === 'building' && f.server === 'ERROR', status: 'ERROR' },
  { id: 'building', when: actionIs('building'), status: 'BUILD' },
  { id: 'rebooting', when: actionIs('rebooting'), status: 'REBOOT' },
  { id: 'restarting', when: actionIs('restarting'), status: 'REBOOT' },
  { id: 'resizing', when: actionIs('resizing'), status: 'RESIZE' },
  { id: 'upgrading', when: actionIs('upgrading'), status: 'UPGRADE' },
  { id: 'restart-required', when: actionIs('restart_required'), status: 'RESTART_REQUIRED' },
  { id: 'server-build', when: serverIn('BUILD'), status: 'BUILD' },
  { id: 'server-error', when: serverIn('ERROR'), status: 'ERROR' },
  { id: 'server-reboot', when: serverIn('REBOOT', 'HARD_REBOOT'), status: 'REBOOT' },
  { id: 'server-resize', when: serverIn('RESIZE', 'VERIFY_RESIZE'), status: 'RESIZE' },
  { id: 'backup-running', when: (f) => f.backupRunning, status: 'BACKUP' },
  {
    id: 'deleting-server-gone-or-stopped',
    when: (f) => f.action === 'deleting' && serverIn('ACTIVE', 'SHUTOFF', 'PAUSED', 'SUSPENDED', 'DELETED', null)(f),
    status: 'SHUTDOWN',
  },
  { id: 'deleting-server-unknown', when: actionIs('deleting'), status: 'ERROR' },
  { id: 'service-deleted', when: (f) => f.service === 'DELETED', status: 'DELETED' },
  { id: 'server-stopped', when: serverIn('SHUTOFF', 'PAUSED', 'SUSPENDED'), status: 'SHUTDOWN' },
  { id: 'server-vanished', when: serverIn('DELETED'), status: 'ERROR' },
  // The service is only paused during a reboot.
  { id: 'service-paused', when: (f) => f.service === 'PAUSED', status: 'REBOOT' },
  { id: 'service-new', when: (f) => f.service === 'NEW', status: 'BUILD' },
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
      return { status, operatingStatus: input.serviceStatus, rule: rule.id };
    }
  }
  // Unreachable: the last rule matches everything.
  throw new Error('composite status table has no catch-all rule');
}
