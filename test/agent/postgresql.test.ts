/**
 * The agent as a real process with the real postgresql manager: its own initdb cluster (PostgreSQL 15 binaries
 * from scripts/setup/30-datastores.sh, run as the `postgres` user) on a free loopback port in a temporary state
 * dir, never the shared test cluster on 5432. Checks with `pg`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  type ControlPlane,
  cleanupGuest,
  freePort,
  type GuestSetup,
  makeGuest,
  prepareArgs,
  startAgent,
  startControlPlane,
} from './harness.js';

async function asUser<T>(
  port: number,
  user: string,
  password: string,
  database: string,
  work: (c: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('agent with the postgresql manager', () => {
  let plane: ControlPlane;
  let guest: GuestSetup;
  let interrupted: GuestSetup | undefined;
  let port: number;
  const agents: AgentProcess[] = [];
  const interruptedAgents: AgentProcess[] = [];

  beforeAll(async () => {
    plane = await startControlPlane();
    port = await freePort();
    guest = await makeGuest(plane, { guestId: 'pg-guest', manager: 'postgresql', port, heartbeatIntervalSeconds: 1 });
  });

  afterAll(async () => {
    await cleanupGuest(guest, agents);
    await cleanupGuest(interrupted, interruptedAgents);
    await plane?.close();
  });

  it('prepares a cluster with a database and a user, to HEALTHY', async () => {
    agents.push(startAgent(['--config', guest.configPath]));
    const first = await plane.waitForHeartbeat(guest.guestId, (beat) => beat.first === true, 30_000);
    expect(first.serviceStatus).toBe('INSTANCE_READY');
    await plane.service.cast(
      guest.guestId,
      'prepare',
      prepareArgs('postgresql', {
        requestId: 'pg-prepare-1',
        databases: [{ name: 'app' }],
        users: [{ name: 'app_user', password: 'app-password', databases: [{ name: 'app' }] }],
      }),
    );
    await plane.waitForHeartbeat(guest.guestId, (beat) => beat.serviceStatus === 'BUILDING', 10_000);
    const report = await plane.waitForMessage(guest.guestId, 'status_report', 90_000);
    expect(report.args, JSON.stringify(report.args)).toMatchObject({
      serviceStatus: 'HEALTHY',
      requestId: 'pg-prepare-1',
    });
    await plane.waitForHeartbeat(guest.guestId, (beat) => beat.serviceStatus === 'HEALTHY', 5000);

    const row = await asUser(port, 'app_user', 'app-password', 'app', async (client) => {
      await client.query('CREATE TABLE t (id int)');
      await client.query('INSERT INTO t VALUES (42)');
      return (await client.query<{ id: number }>('SELECT id FROM t')).rows[0];
    });
    expect(row).toEqual({ id: 42 });
    // The server refuses the app user without its password (scram-sha-256, not trust).
    await expect(asUser(port, 'app_user', 'wrong-password', 'app', async () => 1)).rejects.toThrow(
      /password authentication failed/,
    );
  });

  it('creates, lists and deletes databases and users on the real cluster', async () => {
    expect(await plane.call(guest.guestId, 'is_root_enabled', {})).toBe(false);
    await plane.call(guest.guestId, 'create_database', {
      requestId: 'db-1',
      databases: [{ name: 'reports' }, { name: 'audit' }],
    });
    expect(await plane.call(guest.guestId, 'list_databases', {})).toEqual({
      databases: [{ name: 'app' }, { name: 'audit' }, { name: 'reports' }],
      nextMarker: null,
    });
    expect(await plane.call(guest.guestId, 'list_databases', { limit: 2 })).toEqual({
      databases: [{ name: 'app' }, { name: 'audit' }],
      nextMarker: 'audit',
    });

    await plane.call(guest.guestId, 'create_user', {
      requestId: 'user-1',
      users: [{ name: 'analyst', password: 'analyst-password', databases: [{ name: 'reports' }] }],
    });
    expect(await plane.call(guest.guestId, 'list_users', {})).toEqual({
      users: [
        { name: 'analyst', host: '%', databases: ['reports'] },
        { name: 'app_user', host: '%', databases: ['app'] },
      ],
      nextMarker: null,
    });
    const databases = await asUser(port, 'analyst', 'analyst-password', 'reports', async (client) => {
      await client.query('CREATE TABLE kept (v text)');
      await client.query("INSERT INTO kept VALUES ('still here')");
      const rows = await client.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY datname');
      return rows.rows.map((r) => r.datname);
    });
    expect(databases).toEqual(expect.arrayContaining(['app', 'audit', 'reports']));

    await plane.call(guest.guestId, 'delete_user', { requestId: 'user-del-1', user: { name: 'analyst' } });
    await expect(asUser(port, 'analyst', 'analyst-password', 'reports', async () => 1)).rejects.toThrow(
      /password authentication failed|does not exist/,
    );
    // Its table stays, now owned by the agent's superuser.
    const root = (await plane.call(guest.guestId, 'enable_root', { requestId: 'root-1' })) as { password: string };
    const kept = await asUser(
      port,
      'root',
      root.password,
      'reports',
      async (client) => (await client.query('SELECT v FROM kept')).rows,
    );
    expect(kept).toEqual([{ v: 'still here' }]);
    await plane.call(guest.guestId, 'delete_database', { requestId: 'db-del-1', database: { name: 'audit' } });
    expect(await plane.call(guest.guestId, 'list_databases', {})).toMatchObject({
      databases: [{ name: 'app' }, { name: 'reports' }],
    });
  });

  it('enables root with a generated password that works, and disables it', async () => {
    const root = (await plane.call(guest.guestId, 'enable_root', { requestId: 'root-1' })) as {
      name: string;
      password: string;
    };
    expect(root.name).toBe('root');
    const superuser = await asUser(
      port,
      'root',
      root.password,
      'postgres',
      async (client) =>
        (await client.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = current_user'))
          .rows[0],
    );
    expect(superuser).toEqual({ rolsuper: true });
    expect(await plane.call(guest.guestId, 'is_root_enabled', {})).toBe(true);
    // Redelivered: the same credentials, not a second password.
    expect(await plane.call(guest.guestId, 'enable_root', { requestId: 'root-1' })).toEqual(root);
    await plane.call(guest.guestId, 'disable_root', { requestId: 'root-off-1' });
    await expect(asUser(port, 'root', root.password, 'postgres', async () => 1)).rejects.toThrow(
      /not permitted to log in/,
    );
    expect(await plane.call(guest.guestId, 'is_root_enabled', {})).toBe(true);
  });

  it('keeps the cluster across an agent restart, and restarts it through the new agent', async () => {
    // Overrides: work_mem applies at once (reload); shared_buffers waits for the restart below.
    await plane.call(guest.guestId, 'apply_overrides', { requestId: 'apply-1', overrides: { work_mem: '8MB' } });
    await plane.call(guest.guestId, 'update_overrides', {
      requestId: 'update-1',
      overrides: { shared_buffers: '24MB' },
    });
    const show = (setting: string) =>
      asUser(port, 'app_user', 'app-password', 'app', async (c) => (await c.query(`SHOW ${setting}`)).rows[0]);
    expect(await show('work_mem')).toEqual({ work_mem: '8MB' });
    expect(await show('shared_buffers')).toEqual({ shared_buffers: '128MB' });

    await (agents[0] as AgentProcess).kill('SIGKILL');
    const from = plane.heartbeats.length;
    agents.push(startAgent(['--config', guest.configPath]));
    const beat = await plane.waitForHeartbeat(guest.guestId, (b) => b.first === true, 30_000, from);
    expect(beat.serviceStatus).toBe('HEALTHY');
    expect(await plane.call(guest.guestId, 'restart', { requestId: 'pg-restart-1' })).toBeNull();
    const rows = await asUser(
      port,
      'app_user',
      'app-password',
      'app',
      async (client) => (await client.query('SELECT id FROM t')).rows,
    );
    expect(rows).toEqual([{ id: 42 }]);
    expect(await show('shared_buffers')).toEqual({ shared_buffers: '24MB' });
  });

  it('reports a prepare cut off by an agent crash as interrupted and FAILED, and never runs it again', async () => {
    const otherPort = await freePort();
    interrupted = await makeGuest(plane, {
      guestId: 'pg-interrupted',
      manager: 'postgresql',
      port: otherPort,
      heartbeatIntervalSeconds: 1,
    });
    const first = startAgent(['--config', interrupted.configPath]);
    interruptedAgents.push(first);
    await plane.waitForHeartbeat(interrupted.guestId, (beat) => beat.first === true, 30_000);
    await plane.service.cast(interrupted.guestId, 'prepare', prepareArgs('postgresql', { requestId: 'cut-1' }));
    await plane.waitForHeartbeat(interrupted.guestId, (beat) => beat.serviceStatus === 'BUILDING', 10_000);
    await first.kill('SIGKILL'); // initdb is still running: the crash lands mid-prepare.

    const from = plane.heartbeats.length;
    const second = startAgent(['--config', interrupted.configPath]);
    interruptedAgents.push(second);
    const beat = await plane.waitForHeartbeat(interrupted.guestId, (b) => b.first === true, 30_000, from);
    expect(beat.serviceStatus).toBe('FAILED');
    expect(beat.detail).toBe('prepare was interrupted by an agent restart');

    const before = plane.messages.length;
    await plane.service.cast(interrupted.guestId, 'prepare', prepareArgs('postgresql', { requestId: 'cut-1' }));
    const error = await plane.waitForMessage(interrupted.guestId, 'notify_error', 10_000, before);
    expect(error.args).toMatchObject({ requestId: 'cut-1', method: 'prepare', error: { code: 'REQUEST_INTERRUPTED' } });
    await sleep(500);
    expect(second.output()).not.toContain('initdb');
    expect(second.output()).toContain('not running it again');
  });
});
