/**
 * The agent as a real process with the real redis manager: embedded aedes broker with mutual TLS, redis-server
 * from scripts/setup/30-datastores.sh on a free loopback port. Checks with a raw RESP socket.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RespClient, withRedis } from '@corral/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  type ControlPlane,
  cleanupGuest,
  freePort,
  type GuestSetup,
  makeGuest,
  prepareArgs,
  readPid,
  startAgent,
  startControlPlane,
} from './harness.js';

// Two seconds: the periodic probe catches an adopted server's death within one interval, with room for a loaded CI box.
const INTERVAL_MS = 2000;

describe('agent with the redis manager', () => {
  let plane: ControlPlane;
  let guest: GuestSetup;
  let port: number;
  const agents: AgentProcess[] = [];
  const pidFile = () => join(guest.config.stateDir as string, 'redis', 'redis.pid');

  beforeAll(async () => {
    plane = await startControlPlane();
    port = await freePort();
    guest = await makeGuest(plane, {
      guestId: 'redis-guest',
      manager: 'redis',
      port,
      heartbeatIntervalSeconds: INTERVAL_MS / 1000,
    });
  });

  afterAll(async () => {
    await cleanupGuest(guest, agents);
    await plane?.close();
  });

  it('sends a birth and a first heartbeat before prepare, then prepares to HEALTHY', async () => {
    const agent = startAgent(['--config', guest.configPath]);
    agents.push(agent);
    const first = await plane.waitForHeartbeat(guest.guestId, (beat) => beat.first === true, 30_000);
    expect(first.serviceStatus).toBe('INSTANCE_READY');
    expect(first.instanceId).toBe('instance-redis-guest');
    expect(plane.births.some((birth) => birth.guestId === guest.guestId && birth.bootId === first.bootId)).toBe(true);

    // prepare is a cast: its outcome arrives as a status_report (and notify_end) on the conductor topic.
    await plane.service.cast(
      guest.guestId,
      'prepare',
      prepareArgs('redis', { requestId: 'prepare-1', users: [{ name: 'app', password: 'app-secret-1' }] }),
    );
    const report = await plane.waitForMessage(guest.guestId, 'status_report', 30_000);
    expect(report.args).toEqual({
      instanceId: 'instance-redis-guest',
      serviceStatus: 'HEALTHY',
      requestId: 'prepare-1',
    });
    await plane.waitForHeartbeat(guest.guestId, (beat) => beat.serviceStatus === 'HEALTHY', 5000);
    const ended = await plane.waitForMessage(guest.guestId, 'notify_end', 5000);
    expect(ended.args).toEqual({ instanceId: 'instance-redis-guest', requestId: 'prepare-1', method: 'prepare' });
    // The agent's own admin password is required: a client without one is refused.
    await expect(withRedis({ host: '127.0.0.1', port }, (client) => client.command('GET', 'x'))).rejects.toThrow(
      /NOAUTH/,
    );
    expect(agent.output()).not.toContain('app-secret-1');
    expect(agent.output()).not.toContain('BEGIN PRIVATE KEY');
  });

  it('creates, lists and deletes users on the real server', async () => {
    await plane.call(guest.guestId, 'create_user', {
      requestId: 'user-1',
      users: [{ name: 'reader', password: 'reader-secret' }],
    });
    const users = await plane.call(guest.guestId, 'list_users', {});
    expect(users).toEqual({
      users: [
        { name: 'app', host: '%', databases: [] },
        { name: 'reader', host: '%', databases: [] },
      ],
      nextMarker: null,
    });
    expect(await plane.call(guest.guestId, 'list_users', { limit: 1 })).toMatchObject({ nextMarker: 'app' });

    // A raw RESP socket, as the user.
    const client = await RespClient.connect({ host: '127.0.0.1', port });
    try {
      expect(await client.command('AUTH', 'reader', 'reader-secret')).toBe('OK');
      expect(await client.command('SET', 'k', 'v')).toBe('OK');
      expect(await client.command('GET', 'k')).toBe('v');
      await expect(client.command('ACL', 'LIST')).rejects.toThrow(/NOPERM/);
    } finally {
      client.close();
    }

    await plane.call(guest.guestId, 'delete_user', { requestId: 'user-del-1', user: { name: 'reader' } });
    await expect(
      withRedis({ host: '127.0.0.1', port, username: 'reader', password: 'reader-secret' }, (c) => c.command('PING')),
    ).rejects.toThrow(/WRONGPASS/);
  });

  it('applies overrides to the running server and writes them for the next start', async () => {
    const root = (await plane.call(guest.guestId, 'enable_root', { requestId: 'root-1' })) as { password: string };
    const configGet = (key: string) =>
      withRedis({ host: '127.0.0.1', port, username: 'root', password: root.password }, (c) =>
        c.command('CONFIG', 'GET', key),
      );
    await plane.call(guest.guestId, 'apply_overrides', {
      requestId: 'apply-1',
      overrides: { 'maxmemory-policy': 'allkeys-lru' },
    });
    expect(await configGet('maxmemory-policy')).toEqual(['maxmemory-policy', 'allkeys-lru']);
    await plane.call(guest.guestId, 'update_overrides', { requestId: 'update-1', overrides: { hz: 20 } });
    expect(await configGet('hz')).toEqual(['hz', '10']);
    await plane.call(guest.guestId, 'restart', { requestId: 'restart-overrides' });
    expect(await configGet('hz')).toEqual(['hz', '20']);
    await expect(
      plane.call(guest.guestId, 'apply_overrides', { requestId: 'apply-2', overrides: { port: 1 } }),
    ).rejects.toMatchObject({ remoteCode: 'BAD_REQUEST' });
  });

  it('has no named databases: an empty list, and create_database is unsupported', async () => {
    expect(await plane.call(guest.guestId, 'list_databases', {})).toEqual({ databases: [], nextMarker: null });
    await expect(plane.call(guest.guestId, 'create_database', { databases: [{ name: 'app' }] })).rejects.toMatchObject({
      remoteCode: 'UNSUPPORTED',
    });
    expect(await plane.call(guest.guestId, 'rpc_ping', {})).toBe(true);
  });

  it('reports a killed redis-server as CRASHED within one interval, and restart brings it back HEALTHY', async () => {
    const pid = readPid(pidFile());
    const from = plane.heartbeats.length;
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const crashed = await plane.waitForHeartbeat(
      guest.guestId,
      (b) => b.serviceStatus === 'CRASHED',
      INTERVAL_MS * 3,
      from,
    );
    expect(crashed.at - killedAt).toBeLessThanOrEqual(INTERVAL_MS);

    expect(await plane.call(guest.guestId, 'restart', { requestId: 'restart-1' })).toBeNull();
    expect(readPid(pidFile())).not.toBe(pid);
    await plane.waitForHeartbeat(guest.guestId, (b) => b.serviceStatus === 'HEALTHY', 5000, plane.heartbeats.length);
  });

  it('stop_db reports SHUTDOWN and start_db HEALTHY', async () => {
    expect(await plane.call(guest.guestId, 'stop_db', { requestId: 'stop-1' })).toBeNull();
    expect(existsSync(pidFile())).toBe(false);
    const from = plane.heartbeats.length;
    await plane.waitForHeartbeat(guest.guestId, (b) => b.serviceStatus === 'SHUTDOWN', INTERVAL_MS * 3, from);
    expect(await plane.call(guest.guestId, 'start_db', { requestId: 'start-1' })).toBeNull();
    await plane.waitForHeartbeat(
      guest.guestId,
      (b) => b.serviceStatus === 'HEALTHY',
      INTERVAL_MS * 3,
      plane.heartbeats.length,
    );
  });

  it('does not prepare twice for a redelivered request, also after an agent restart', async () => {
    const pid = readPid(pidFile());
    const redo = prepareArgs('redis', { requestId: 'prepare-1' });
    // Redelivered as a cast: the stored outcome is reported again (the first report may be what got lost).
    const before = plane.messages.length;
    await plane.service.cast(guest.guestId, 'prepare', redo);
    const again = await plane.waitForMessage(guest.guestId, 'status_report', 10_000, before);
    expect(again.args).toMatchObject({ serviceStatus: 'HEALTHY', requestId: 'prepare-1' });
    await expect(plane.call(guest.guestId, 'prepare', redo)).resolves.toBeNull();
    expect(readPid(pidFile())).toBe(pid);
    // A new prepare request is refused: the datastore is prepared once.
    await expect(
      plane.call(guest.guestId, 'prepare', prepareArgs('redis', { requestId: 'prepare-2' })),
    ).rejects.toMatchObject({
      remoteCode: 'ALREADY_PREPARED',
    });

    const first = agents[0] as AgentProcess;
    await first.kill('SIGKILL');
    const from = plane.heartbeats.length;
    const second = startAgent(['--config', guest.configPath]);
    agents.push(second);
    const beat = await plane.waitForHeartbeat(guest.guestId, (b) => b.first === true, 30_000, from);
    // The datastore outlived the agent and was adopted, not restarted.
    expect(beat.serviceStatus).toBe('HEALTHY');
    expect(readPid(pidFile())).toBe(pid);
    await expect(plane.call(guest.guestId, 'prepare', redo)).resolves.toBeNull();
    expect(readPid(pidFile())).toBe(pid);
    expect(second.output()).toContain('duplicate of a finished request');

    // An adopted server (no exit event) that dies is still seen within one interval, by the periodic probe.
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const crashed = await plane.waitForHeartbeat(
      guest.guestId,
      (b) => b.serviceStatus === 'CRASHED',
      INTERVAL_MS * 3,
      plane.heartbeats.length,
    );
    expect(crashed.at - killedAt).toBeLessThanOrEqual(INTERVAL_MS);
    expect(await plane.call(guest.guestId, 'start_db', { requestId: 'start-2' })).toBeNull();
    await sleep(10);
  });
});
