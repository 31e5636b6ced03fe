/**
 * Split deployment: two task-manager + conductor processes on one PostgreSQL and one mosquitto, the API in
 * this process. They share the work (tasks by lease, heartbeats by a `$share/` subscription), each task step
 * runs exactly once, and when one process is SIGKILLed mid-work the other finishes everything it left.
 * Needs scripts/setup/10-postgresql.sh and scripts/setup/20-mosquitto.sh.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ControlPlane, createPostgresStore } from '@corral/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, spawnChild } from './child.js';
import { create, idle, startEnv, type TestEnv, until } from './harness.js';
import { serveProvider } from './provider-http.js';

const PG_URL = process.env.CORRAL_TEST_PG_URL ?? 'postgres://corral:corral@127.0.0.1:5432/corral_test';

describe('two control-plane processes on PostgreSQL and mosquitto', () => {
  const schema = `multi_${process.pid}_${Date.now()}`;
  let dir: string;
  let env: TestEnv;
  let plane: ControlPlane;
  let served: { url: string; close(): Promise<void> };
  const children: Child[] = [];

  const steps = (child: Child) => child.lines.filter((line) => line.startsWith('STEP '));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'corral-multi-'));
    const store = await createPostgresStore({ connectionString: PG_URL, schema, max: 4 });
    env = await startEnv({ store, mosquitto: { dir: join(dir, 'mosquitto'), services: ['api0', 'cpa', 'cpb'] } });
    plane = await env.startPlane({ roles: ['api'], pki: undefined, serviceName: 'api0' });
    served = await serveProvider(env.guestedProvider);
    for (const serviceName of ['cpa', 'cpb']) {
      children.push(
        await spawnChild(env, {
          dir,
          store: { kind: 'postgres', connectionString: PG_URL, schema },
          providerUrl: served.url,
          roles: ['taskmanager', 'conductor'],
          serviceName,
          buildMs: 30_000,
        }),
      );
    }
  });

  afterAll(async () => {
    for (const child of children) await child.kill();
    await served?.close();
    await env?.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('share the work, each step once; killing one loses nothing', { timeout: 180_000 }, async () => {
    const [a, b] = children as [Child, Child];
    const first = await Promise.all(Array.from({ length: 6 }, (_, i) => create(plane, `multi-${i}`)));
    for (const view of first) expect((await until(plane, view.id, idle, 30_000)).status).toBe('ACTIVE');
    const all = [...steps(a), ...steps(b)];
    expect(new Set(all).size).toBe(all.length);
    expect(steps(a).length).toBeGreaterThan(0);
    expect(steps(b).length).toBeGreaterThan(0);

    // Kill A while both work on a second batch: B resumes whatever A held once its lease lapses.
    const second = await Promise.all(Array.from({ length: 6 }, (_, i) => create(plane, `multi-late-${i}`)));
    await a.waitForLine(/^STEP .* create\/create-server$/, 30_000);
    await a.kill();
    for (const view of second) {
      const done = await until(plane, view.id, idle, 60_000);
      expect({ name: done.name, taskStatus: done.taskStatus, status: done.status }).toEqual({
        name: done.name,
        taskStatus: 'NONE',
        status: 'ACTIVE',
      });
    }
    const servers = await env.provider.listServers();
    expect(servers).toHaveLength(12);
    expect(new Set(servers.map((s) => s.name)).size).toBe(12);

    // Deletes go through the survivor alone; nothing is left behind.
    for (const view of [...first, ...second]) await plane.instances.delete(view.id);
    for (const view of [...first, ...second]) await until(plane, view.id, (v) => v.deletedAt !== null, 30_000);
    expect(env.provider.resources()).toEqual([]);
  });
});
