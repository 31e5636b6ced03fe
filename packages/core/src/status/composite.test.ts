import { describe, expect, it } from 'vitest';
import { type ServerStatus, serverStatuses } from '../provider/types.js';
import { type CompositeStatusInput, compositeStatus, compositeStatusRules, type InstanceStatus } from './composite.js';
import { type ServiceStatus, serviceStatusNames } from './service-status.js';
import { type InstanceTaskStatus, instanceTaskStatuses, instanceTaskStatusNames } from './task-status.js';

/**
 * Every (task, server, service, backup) combination, each with its exact expected status, written out as
 * tables: one column per service status (in this order), one row per server status. Task statuses with the
 * same behaviour share a table; the test proves every task status belongs to exactly one.
 */
const services = [
  'RUNNING',
  'BLOCKED',
  'PAUSED',
  'SHUTDOWN',
  'DELETED',
  'CRASHED',
  'FAILED',
  'BUILDING',
  'UNKNOWN',
  'NEW',
  'FAILED_TIMEOUT_GUESTAGENT',
  'INSTANCE_READY',
  'RESTART_REQUIRED',
  'BUILD_PENDING',
  'UPGRADING',
  'HEALTHY',
  'RESTARTING',
] as const satisfies readonly ServiceStatus[];

type Row = readonly InstanceStatus[];
type Matrix = Record<ServerStatus | 'none', Row>;

const all = (status: InstanceStatus): Row => services.map(() => status);

// What the service status alone shows (PAUSED reads REBOOT, NEW reads BUILD, DELETED reads DELETED).
const byService: Row = [
  'ACTIVE', // RUNNING
  'BLOCKED', // BLOCKED
  'REBOOT', // PAUSED
  'SHUTDOWN', // SHUTDOWN
  'DELETED', // DELETED
  'SHUTDOWN', // CRASHED
  'FAILED', // FAILED
  'BUILD', // BUILDING
  'ERROR', // UNKNOWN
  'BUILD', // NEW
  'ERROR', // FAILED_TIMEOUT_GUESTAGENT
  'BUILD', // INSTANCE_READY
  'RESTART_REQUIRED', // RESTART_REQUIRED
  'BUILD', // BUILD_PENDING
  'UPGRADE', // UPGRADING
  'HEALTHY', // HEALTHY
  'REBOOT', // RESTARTING
];
// A stopped server reads SHUTDOWN, unless the instance is deleted.
const stopped: Row = services.map((s) => (s === 'DELETED' ? 'DELETED' : 'SHUTDOWN'));
// A server that vanished without a delete task is an error, unless the instance is deleted.
const vanished: Row = services.map((s) => (s === 'DELETED' ? 'DELETED' : 'ERROR'));

/** No task (NONE), or one that does not show (UPDATING_CONFIGURATION), no backup. */
const idle: Matrix = {
  none: byService,
  BUILD: all('BUILD'),
  ACTIVE: byService,
  REBOOT: all('REBOOT'),
  HARD_REBOOT: all('REBOOT'),
  RESIZE: all('RESIZE'),
  VERIFY_RESIZE: all('RESIZE'),
  SHUTOFF: stopped,
  PAUSED: stopped,
  SUSPENDED: stopped,
  ERROR: all('ERROR'),
  DELETED: vanished,
  UNKNOWN: byService,
};

/** The same with a backup running: BACKUP wins over everything but the server's own transitions. */
const idleBackup: Matrix = {
  none: all('BACKUP'),
  BUILD: all('BUILD'),
  ACTIVE: all('BACKUP'),
  REBOOT: all('REBOOT'),
  HARD_REBOOT: all('REBOOT'),
  RESIZE: all('RESIZE'),
  VERIFY_RESIZE: all('RESIZE'),
  SHUTOFF: all('BACKUP'),
  PAUSED: all('BACKUP'),
  SUSPENDED: all('BACKUP'),
  ERROR: all('ERROR'),
  DELETED: all('BACKUP'),
  UNKNOWN: all('BACKUP'),
};

// While deleting, an UNKNOWN service (reset / force delete) reads SHUTDOWN whatever the server says.
const deletingOr = (status: InstanceStatus): Row => services.map((s) => (s === 'UNKNOWN' ? 'SHUTDOWN' : status));

const deleting: Matrix = {
  none: all('SHUTDOWN'),
  BUILD: deletingOr('BUILD'),
  ACTIVE: all('SHUTDOWN'),
  REBOOT: deletingOr('REBOOT'),
  HARD_REBOOT: deletingOr('REBOOT'),
  RESIZE: deletingOr('RESIZE'),
  VERIFY_RESIZE: deletingOr('RESIZE'),
  SHUTOFF: all('SHUTDOWN'),
  PAUSED: all('SHUTDOWN'),
  SUSPENDED: all('SHUTDOWN'),
  ERROR: deletingOr('ERROR'),
  DELETED: all('SHUTDOWN'),
  // Trove logs "server had status …" and shows ERROR.
  UNKNOWN: deletingOr('ERROR'),
};

const deletingBackup: Matrix = {
  ...deleting,
  none: deletingOr('BACKUP'),
  ACTIVE: deletingOr('BACKUP'),
  SHUTOFF: deletingOr('BACKUP'),
  PAUSED: deletingOr('BACKUP'),
  SUSPENDED: deletingOr('BACKUP'),
  DELETED: deletingOr('BACKUP'),
  UNKNOWN: deletingOr('BACKUP'),
};

const uniform = (status: InstanceStatus): Matrix =>
  Object.fromEntries(['none', ...serverStatuses].map((server) => [server, all(status)])) as Matrix;

const building: Matrix = { ...uniform('BUILD'), ERROR: all('ERROR') };

interface TaskClass {
  tasks: readonly InstanceTaskStatus[];
  withoutBackup: Matrix;
  withBackup: Matrix;
}

const taskClasses: Record<string, TaskClass> = {
  'error (every *_ERROR)': {
    tasks: [
      'BUILDING_ERROR_DNS',
      'BUILDING_ERROR_SERVER',
      'BUILDING_ERROR_VOLUME',
      'BUILDING_ERROR_TIMEOUT_GA',
      'BUILDING_ERROR_PREPARE',
      'BUILDING_ERROR_PROVIDER',
      'DELETE_ERROR',
      'REBOOT_ERROR',
      'RESIZE_ERROR',
      'RESTART_ERROR',
      'UPGRADE_ERROR',
      'UPDATE_CONFIGURATION_ERROR',
    ],
    withoutBackup: uniform('ERROR'),
    withBackup: uniform('ERROR'),
  },
  idle: { tasks: ['NONE', 'UPDATING_CONFIGURATION'], withoutBackup: idle, withBackup: idleBackup },
  building: { tasks: ['BUILDING'], withoutBackup: building, withBackup: building },
  deleting: { tasks: ['DELETING'], withoutBackup: deleting, withBackup: deletingBackup },
  rebooting: { tasks: ['REBOOTING', 'RESTARTING'], withoutBackup: uniform('REBOOT'), withBackup: uniform('REBOOT') },
  resizing: { tasks: ['RESIZING'], withoutBackup: uniform('RESIZE'), withBackup: uniform('RESIZE') },
  upgrading: { tasks: ['UPGRADING'], withoutBackup: uniform('UPGRADE'), withBackup: uniform('UPGRADE') },
  'restart required': {
    tasks: ['RESTART_REQUIRED'],
    withoutBackup: uniform('RESTART_REQUIRED'),
    withBackup: uniform('RESTART_REQUIRED'),
  },
};

describe('compositeStatus', () => {
  it('puts every task status in exactly one class of the tables', () => {
    const listed = Object.values(taskClasses).flatMap((c) => c.tasks);
    expect([...listed].sort()).toEqual([...instanceTaskStatusNames].sort());
    expect(new Set(listed).size).toBe(listed.length);
    expect([...services].sort()).toEqual([...serviceStatusNames].sort());
  });

  for (const [className, taskClass] of Object.entries(taskClasses)) {
    for (const backupRunning of [false, true]) {
      it(`task ${className}, backup ${backupRunning ? 'running' : 'idle'}: every server × service`, () => {
        const matrix = backupRunning ? taskClass.withBackup : taskClass.withoutBackup;
        const mismatches: string[] = [];
        for (const taskStatus of taskClass.tasks) {
          for (const server of ['none', ...serverStatuses] as const) {
            services.forEach((serviceStatus, column) => {
              const expected = matrix[server][column];
              const input: CompositeStatusInput = {
                taskStatus,
                serverStatus: server === 'none' ? null : server,
                serviceStatus,
                backupRunning,
              };
              const actual = compositeStatus(input);
              if (actual.status !== expected) {
                mismatches.push(
                  `${taskStatus}/${server}/${serviceStatus}: ${actual.status} (${actual.rule}) ≠ ${expected}`,
                );
              }
              if (actual.operatingStatus !== serviceStatus)
                mismatches.push(`${taskStatus}/${server}/${serviceStatus}: operating`);
            });
          }
        }
        expect(mismatches).toEqual([]);
      });
    }
  }

  it('uses every rule of the table for some combination', () => {
    const used = new Set<string>();
    for (const taskStatus of instanceTaskStatusNames) {
      for (const serverStatus of [null, ...serverStatuses]) {
        for (const serviceStatus of serviceStatusNames) {
          for (const backupRunning of [false, true]) {
            used.add(compositeStatus({ taskStatus, serverStatus, serviceStatus, backupRunning }).rule);
          }
        }
      }
    }
    expect([...used].sort()).toEqual(compositeStatusRules.map((rule) => rule.id).sort());
  });

  it.each([
    // The named cases a reader looks for first.
    ['BUILDING', 'BUILD', 'NEW', 'BUILD', 'building'],
    ['BUILDING', 'ERROR', 'NEW', 'ERROR', 'building-server-error'],
    ['BUILDING_ERROR_TIMEOUT_GA', 'ACTIVE', 'NEW', 'ERROR', 'task-error'],
    ['NONE', 'ACTIVE', 'RUNNING', 'ACTIVE', 'service'],
    ['NONE', 'ACTIVE', 'HEALTHY', 'HEALTHY', 'service'],
    ['NONE', 'ACTIVE', 'FAILED_TIMEOUT_GUESTAGENT', 'ERROR', 'service'],
    ['NONE', 'SHUTOFF', 'RUNNING', 'SHUTDOWN', 'server-stopped'],
    ['NONE', 'ACTIVE', 'PAUSED', 'REBOOT', 'service-paused'],
    ['DELETING', 'SHUTOFF', 'RUNNING', 'SHUTDOWN', 'deleting-server-gone-or-stopped'],
    ['DELETING', 'ACTIVE', 'UNKNOWN', 'SHUTDOWN', 'deleting-unknown-service'],
    ['RESTARTING', 'ACTIVE', 'RESTARTING', 'REBOOT', 'restarting'],
    ['NONE', 'ACTIVE', 'UPGRADING', 'UPGRADE', 'service'],
  ] as const)('%s + server %s + service %s → %s (rule %s)', (taskStatus, serverStatus, serviceStatus, status, rule) => {
    expect(compositeStatus({ taskStatus, serverStatus, serviceStatus })).toEqual({
      status,
      operatingStatus: serviceStatus,
      rule,
    });
  });

  it('reads every error task as ERROR', () => {
    for (const [name, entry] of Object.entries(instanceTaskStatuses)) {
      if (!entry.isError) continue;
      expect(
        compositeStatus({ taskStatus: name as InstanceTaskStatus, serverStatus: 'ACTIVE', serviceStatus: 'HEALTHY' })
          .status,
      ).toBe('ERROR');
    }
  });
});
