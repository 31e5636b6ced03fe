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
  'ACTIVE', // HEALTHY (shown as the operating status)
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

// Deleting reads SHUTDOWN, unless the server is in ERROR or UNKNOWN.
const deleting: Matrix = {
  none: all('SHUTDOWN'),
  BUILD: all('SHUTDOWN'),
  ACTIVE: all('SHUTDOWN'),
  REBOOT: all('SHUTDOWN'),
  HARD_REBOOT: all('SHUTDOWN'),
  RESIZE: all('SHUTDOWN'),
  VERIFY_RESIZE: all('SHUTDOWN'),
  SHUTOFF: all('SHUTDOWN'),
  PAUSED: all('SHUTDOWN'),
  SUSPENDED: all('SHUTDOWN'),
  ERROR: all('ERROR'),
  DELETED: all('SHUTDOWN'),
  UNKNOWN: all('ERROR'),
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
  // A running backup wins over every server and service status when no task runs.
  idle: { tasks: ['NONE', 'UPDATING_CONFIGURATION'], withoutBackup: idle, withBackup: uniform('BACKUP') },
  building: { tasks: ['BUILDING'], withoutBackup: building, withBackup: building },
  deleting: { tasks: ['DELETING'], withoutBackup: deleting, withBackup: deleting },
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
              // Trove's operating_status: the service status only when no task runs and the server is ACTIVE.
              const operating = taskStatus === 'NONE' && server === 'ACTIVE' ? serviceStatus : null;
              if (actual.operatingStatus !== operating) {
                mismatches.push(`${taskStatus}/${server}/${serviceStatus}: operating ${actual.operatingStatus}`);
              }
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
    ['BUILDING', 'BUILD', 'NEW', 'BUILD', null, 'building'],
    ['BUILDING', 'ERROR', 'NEW', 'ERROR', null, 'building-server-error'],
    ['BUILDING_ERROR_TIMEOUT_GA', 'ACTIVE', 'NEW', 'ERROR', null, 'task-error'],
    ['NONE', 'ACTIVE', 'RUNNING', 'ACTIVE', 'RUNNING', 'service'],
    ['NONE', 'ACTIVE', 'HEALTHY', 'ACTIVE', 'HEALTHY', 'service'],
    ['NONE', 'ACTIVE', 'CRASHED', 'SHUTDOWN', 'CRASHED', 'service'],
    ['NONE', 'ACTIVE', 'FAILED_TIMEOUT_GUESTAGENT', 'ERROR', 'FAILED_TIMEOUT_GUESTAGENT', 'service'],
    ['NONE', 'SHUTOFF', 'RUNNING', 'SHUTDOWN', null, 'server-stopped'],
    ['NONE', 'ACTIVE', 'PAUSED', 'REBOOT', 'PAUSED', 'service-paused'],
    ['NONE', 'VERIFY_RESIZE', 'RUNNING', 'RESIZE', null, 'server-resize'],
    ['NONE', 'DELETED', 'RUNNING', 'ERROR', null, 'server-vanished'],
    ['DELETING', 'SHUTOFF', 'RUNNING', 'SHUTDOWN', null, 'deleting'],
    ['DELETING', 'ERROR', 'UNKNOWN', 'ERROR', null, 'deleting-server-failed'],
    ['RESTARTING', 'ACTIVE', 'RESTARTING', 'REBOOT', null, 'restarting'],
    ['NONE', 'ACTIVE', 'UPGRADING', 'UPGRADE', 'UPGRADING', 'service'],
  ] as const)(
    '%s + server %s + service %s → %s, operating %s (rule %s)',
    (taskStatus, serverStatus, serviceStatus, status, operatingStatus, rule) => {
      expect(compositeStatus({ taskStatus, serverStatus, serviceStatus })).toEqual({ status, operatingStatus, rule });
    },
  );

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
