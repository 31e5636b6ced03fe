import { describe, expect, it } from 'vitest';
import { conductorMethods, isConductorMethod } from '../conductor/messages.js';
import { parseWith, ValidationError } from '../errors/index.js';
import { guestMethodNames, guestMethods, guestMethodTimeoutMs, isGuestMethod, redactGuestArgs } from './contract.js';

const required = [
  'prepare',
  'restart',
  'stop_db',
  'start_db',
  'rpc_ping',
  'get_filesystem_stats',
  'list_databases',
  'create_database',
  'delete_database',
  'list_users',
  'create_user',
  'delete_user',
  'enable_root',
  'is_root_enabled',
  'update_overrides',
  'apply_overrides',
];

const prepareArgs = {
  requestId: 'r-1',
  datastore: { manager: 'redis', version: '7' },
  memoryMb: 512,
  users: [{ name: 'app', password: 'correct horse', databases: [{ name: 'db0' }] }],
  rootPassword: 'rootrootroot',
};

describe('guest RPC contract', () => {
  it('has every method the control plane needs, each a call with a timeout or a cast', () => {
    for (const name of required) expect(guestMethodNames).toContain(name);
    for (const name of guestMethodNames) {
      const spec = guestMethods[name];
      if (spec.kind === 'cast') {
        expect(spec.timeout).toBe('cast');
        expect(guestMethodTimeoutMs(name)).toBeNull();
      } else {
        expect(guestMethodTimeoutMs(name)).toBeGreaterThan(0);
      }
    }
    expect(guestMethods.prepare.kind).toBe('cast');
    expect(guestMethodTimeoutMs('rpc_ping')).toBe(10_000);
    expect(guestMethodTimeoutMs('restart')).toBe(300_000);
    expect(isGuestMethod('prepare')).toBe(true);
    expect(isGuestMethod('toString')).toBe(false);
  });

  it('fills prepare defaults', () => {
    expect(parseWith(guestMethods.prepare.args, prepareArgs, 'prepare args')).toEqual({
      ...prepareArgs,
      users: [{ name: 'app', password: 'correct horse', host: '%', databases: [{ name: 'db0' }] }],
      databases: [],
      overrides: {},
      configContents: null,
      volume: null,
    });
  });

  it('names the field and the rule in bad args', () => {
    const bad = { ...prepareArgs, memoryMb: -1, users: [{ name: "x'; DROP", password: 'short' }] };
    let error: unknown;
    try {
      parseWith(guestMethods.prepare.args, bad, 'prepare args');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const issues = (error as ValidationError).issues;
    expect(issues.map((issue) => issue.path)).toEqual(['memoryMb', 'users.0.name', 'users.0.password']);
    expect(issues[2]?.message).toBe('must be at least 8 characters');
    expect((error as ValidationError).message).toContain('users.0.name: must start with a letter');
  });

  it('checks results too', () => {
    expect(guestMethods.is_root_enabled.result.safeParse(true).success).toBe(true);
    expect(guestMethods.is_root_enabled.result.safeParse('yes').success).toBe(false);
    expect(
      guestMethods.get_filesystem_stats.result.safeParse({
        mountPoint: '/var/lib/redis',
        totalBytes: 10,
        usedBytes: 4,
        freeBytes: 6,
      }).success,
    ).toBe(true);
    expect(guestMethods.rpc_ping.result.safeParse(true).success).toBe(true);
  });

  it('redacts secrets for logs without touching the original', () => {
    const redacted = redactGuestArgs('prepare', prepareArgs) as typeof prepareArgs;
    expect(redacted.users[0]?.password).toBe('***');
    expect(redacted.rootPassword).toBe('***');
    expect(redacted.users[0]?.name).toBe('app');
    expect(prepareArgs.users[0]?.password).toBe('correct horse');
    expect(redactGuestArgs('enable_root', {})).toEqual({});
  });
});

describe('conductor messages', () => {
  it('parses a heartbeat and refuses an unknown status, naming the field', () => {
    expect(parseWith(conductorMethods.heartbeat, { instanceId: 'i1', serviceStatus: 'HEALTHY' }, 'heartbeat')).toEqual({
      instanceId: 'i1',
      serviceStatus: 'HEALTHY',
      payload: {},
    });
    expect(() => parseWith(conductorMethods.heartbeat, { instanceId: 'i1', serviceStatus: 'OK' }, 'heartbeat')).toThrow(
      /invalid heartbeat: serviceStatus: Invalid option/,
    );
  });

  it('has heartbeat, status report, backup update and end/error notifications', () => {
    for (const name of ['heartbeat', 'status_report', 'backup_update', 'notify_end', 'notify_error']) {
      expect(isConductorMethod(name)).toBe(true);
    }
    expect(
      conductorMethods.notify_error.safeParse({
        instanceId: 'i1',
        requestId: 'r1',
        method: 'prepare',
        error: { code: 'PREPARE_FAILED', message: 'redis-server did not start' },
      }).success,
    ).toBe(true);
    expect(conductorMethods.backup_update.safeParse({ instanceId: 'i1', backupId: 'b', state: 'DONE' }).success).toBe(
      false,
    );
  });
});
