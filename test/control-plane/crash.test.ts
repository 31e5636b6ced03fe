/**
 * Crash recovery: a task-manager child process is SIGKILLed at every step of create and of delete, both just
 * before the step and just after its side effect (before its checkpoint); a fresh child resumes. Every
 * instance must end ACTIVE (then deleted), with zero duplicate and zero leaked servers and no unrevoked
 * certificate. Runs on SQLite and on PostgreSQL. The FakeProvider and the fake guests live in this (parent)
 * process, reached by the children over loopback HTTP, so they survive the kills.
 * Needs scripts/setup/10-postgresql.sh (PostgreSQL on 127.0.0.1:5432, role corral/corral, db corral_test).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ControlPlane, createPostgresStore, createSqliteStore, type Store } from '@corral/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFlow, deleteFlow } from '../../packages/core/src/taskmanager/tasks/index.js';
import { type Child, spawnChild } from './child.js';
import { create, idle, startEnv, type TestEnv, until } from './harness.js';
import { serveProvider } from './provider-http.js';
import type { ChildConfig } from './worker-child.js';

const PG_URL = process.env.CORRAL_TEST_PG_URL ?? 'postgres://corral:corral@127.0.0.1:5432/corral_test';
const points = (flow: { kind: string; steps: readonly { name: string }[] }) =>
  flow.steps.flatMap((step) => [`${flow.kind}/before:${step.name}`, `${flow.kind}/after:${step.name}`]);

interface Backend {
  name: string;
  open(dir: string): Promise<{ store: Store; child: ChildConfig['store']; drop(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    async open(dir) {
      const path = join(dir, 'corral.db');
      return { store: await createSqliteStore({ path }), child: { kind: 'sqlite', path }, drop: async () => {} };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const schema = `crash_${process.pid}_${Date.now()}`;
      const store = await createPostgresStore({ connectionString: PG_URL, schema, max: 4 });
      return {
        store,
        child: { kind: 'postgres', connectionString: PG_URL, schema },
        async drop() {
          const client = new pg.Client({ connectionString: PG_URL });
          await client.connect();
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await client.end();
        },
      };
    },
  },
];

describe.each(backends)('crash recovery on $name', (backend) => {
  let dir: string;
  let env: TestEnv;
  let plane: ControlPlane;
  let served: { url: string; close(): Promise<void> };
  let childStore: ChildConfig['store'];
  let drop: () => Promise<void> = async () => {};
  const children: Child[] = [];

  // The next worker loads (imports take seconds on a busy machine) while the current one runs.
  let warm: Promise<Child> | undefined;
  const load = (crashAt?: string) =>
    spawnChild(env, { dir, store: childStore, providerUrl: served.url, crashAt, start: false }).then((c) => {
      children.push(c);
      return c;
    });
  const child = async (crashAt?: string, nextCrashAt?: string | null) => {
    const loaded = await (warm ?? load(crashAt));
    warm = nextCrashAt === null ? undefined : load(nextCrashAt);
    await loaded.start();
    return loaded;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'corral-crash-'));
    const opened = await backend.open(dir);
    childStore = opened.child;
    drop = opened.drop;
    env = await startEnv({ store: opened.store });
    // This process is the API and the conductor; the children are the task managers that get killed.
    plane = await env.startPlane({ roles: ['api', 'conductor'], pki: undefined });
    served = await serveProvider(env.guestedProvider);
  });

  afterAll(async () => {
    for (const c of children) await c.kill();
    await served?.close();
    await env?.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL at every step of create and of delete: all end ACTIVE, then deleted; nothing duplicated or leaked', {
    timeout: 300_000,
  }, async () => {
    const ids: string[] = [];
    const killedAt: string[] = [];
    const all = [...points(createFlow), ...points(deleteFlow)];
    const following = (point: string) => all[all.indexOf(point) + 1];
    // Warm spares are spawned with the crash point of the turn they will take.
    warm = load(all[0]);
    for (const point of points(createFlow)) {
      const worker = await child(
        point,
        following(point) === 'delete/before:stop-datastore' ? undefined : following(point),
      );
      ids.push((await create(plane, `crash-${ids.length}`)).id);
      killedAt.push((await worker.waitForLine(/^AT /)).slice(3));
      await worker.kill();
      if (process.env.CORRAL_TEST_TRACE) console.error('killed', killedAt.at(-1), Date.now());
    }
    const finisher = await child(undefined, all[points(createFlow).length]);
    const views = await Promise.all(ids.map((id) => until(plane, id, idle, 60_000)));
    for (const view of views) {
      expect({ name: view.name, taskStatus: view.taskStatus, status: view.status, fault: view.fault }).toEqual({
        name: view.name,
        taskStatus: 'NONE',
        status: 'ACTIVE',
        fault: null,
      });
    }
    const servers = await env.provider.listServers();
    expect(servers).toHaveLength(ids.length);
    expect(new Set(views.map((v) => v.serverId)).size).toBe(ids.length);
    expect(new Set(servers.map((s) => s.id))).toEqual(new Set(views.map((v) => v.serverId)));
    for (const id of ids) {
      // One live certificate per guest: those minted by killed workers were revoked on resume.
      const live = await env.store.listGuestCertificates({ guestId: id, revoked: false });
      expect(live).toHaveLength(1);
    }
    await finisher.kill();

    let next = 0;
    for (const point of points(deleteFlow)) {
      const worker = await child(point, following(point));
      const id = ids[next++] as string;
      await plane.instances.delete(id);
      killedAt.push((await worker.waitForLine(/^AT /)).slice(3));
      await worker.kill();
    }
    await child(undefined, null);
    for (const id of ids.slice(next)) await plane.instances.delete(id);
    await Promise.all(ids.map((id) => until(plane, id, (v) => v.deletedAt !== null, 60_000)));
    expect(env.provider.resources()).toEqual([]);
    expect(await env.store.listGuestCertificates({ revoked: false })).toEqual([]);
  });
});
