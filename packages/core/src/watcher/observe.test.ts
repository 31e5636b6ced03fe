import { describe, expect, it } from 'vitest';
import type { Instance } from '../instance/models.js';
import type { Server } from '../provider/types.js';
import { isWatchable, SERVER_WATCH_STEP, serverStatusPatch } from './observe.js';

const base: Instance = {
  id: 'i1',
  name: 'db',
  projectId: 'p',
  provider: 'fake',
  flavor: 'small',
  image: 'img',
  datastore: { type: 'redis', version: '7' },
  volumeSizeGb: null,
  serverId: 's1',
  serverStatus: 'ACTIVE',
  taskStatus: 'NONE',
  serviceStatus: 'HEALTHY',
  guestId: 'i1',
  lastSeenAt: null,
  lastBootId: null,
  lastSeq: null,
  previousBootId: null,
  fault: null,
  configurationOverrides: {},
  createdAt: 1,
  updatedAt: 1,
  deletedAt: null,
  version: 3,
};
const server = (status: Server['status'], fault?: Server['fault']): Server => ({
  id: 's1',
  name: 'db',
  status,
  addresses: {},
  metadata: {},
  ...(fault !== undefined && { fault }),
});

describe('serverStatusPatch', () => {
  it('writes nothing when the instance already says what the provider says', () => {
    expect(serverStatusPatch(base, { kind: 'found', server: server('ACTIVE') }, 10)).toBeUndefined();
  });

  it('records a new status, and a status first seen (null) as well', () => {
    expect(serverStatusPatch(base, { kind: 'found', server: server('SHUTOFF') }, 10)).toEqual({
      serverStatus: 'SHUTOFF',
    });
    expect(serverStatusPatch({ ...base, serverStatus: null }, { kind: 'found', server: server('ACTIVE') }, 10)).toEqual(
      { serverStatus: 'ACTIVE' },
    );
  });

  it('updates its own fault when the provider words it differently, and only then', () => {
    const first = serverStatusPatch(base, { kind: 'found', server: server('ERROR', { message: 'disk full' }) }, 10);
    expect(first?.fault).toMatchObject({ step: SERVER_WATCH_STEP, time: 10, details: '{"message":"disk full"}' });
    const now = { ...base, serverStatus: 'ERROR' as const, fault: first?.fault ?? null };
    expect(serverStatusPatch(now, { kind: 'found', server: server('ERROR', { message: 'disk full' }) }, 20)).toBe(
      undefined,
    );
    expect(
      serverStatusPatch(now, { kind: 'found', server: server('ERROR', { message: 'host down' }) }, 20)?.fault?.message,
    ).toContain('host down');
  });

  it('never clears a fault it did not write', () => {
    const foreign = { ...base, fault: { message: 'restart failed', step: 'restart', time: 1 } };
    expect(serverStatusPatch(foreign, { kind: 'found', server: server('ACTIVE') }, 10)).toBeUndefined();
    expect(serverStatusPatch(foreign, { kind: 'gone' }, 10)?.fault?.step).toBe(SERVER_WATCH_STEP);
  });
});

describe('isWatchable', () => {
  it('takes live idle instances with a server only', () => {
    expect(isWatchable(base)).toBe(true);
    expect(isWatchable({ ...base, taskStatus: 'RESTART_REQUIRED' })).toBe(true);
    expect(isWatchable({ ...base, taskStatus: 'REBOOTING' })).toBe(false);
    expect(isWatchable({ ...base, taskStatus: 'BUILDING_ERROR_TIMEOUT_GA' })).toBe(false);
    expect(isWatchable({ ...base, serverId: null })).toBe(false);
    expect(isWatchable({ ...base, deletedAt: 5 })).toBe(false);
  });
});
