/**
 * PostgreSQL restart during work: the store is PostgreSQL (the shared test cluster of
 * scripts/setup/10-postgresql.sh, own schema), 8 instances are being created when the cluster is restarted
 * with `pg_ctlcluster 15 main restart`; then half are deleted across a second restart. Creates end ACTIVE (or
 * in an error with a fault), deletes finish, nothing is duplicated or leaked, and the last heartbeat's status is
 * the store's. The cluster is started again at the end even when the test fails.
 *
 * Known bug (reported, packages/core/src/store/postgres.ts): a store opened from a connection string crashes
 * its process when the server restarts, because a client checked out of the pool (between a transaction's
 * queries) emits 'error' with no listener (57P01 admin_shutdown). This suite therefore hands the store its own
 * pool whose clients carry an error listener; what it checks is that the store and the control plane recover.
 * Needs scripts/setup/10-postgresql.sh (PostgreSQL 15 on 127.0.0.1:5432, role corral/corral, db corral_test).
 */
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ControlPlane, createPostgresStore, type InstanceView } from '@corral/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, FAST, idle, until } from '../control-plane/harness.js';
import { type FaultEnv, startFaultEnv } from './env.js';
import { checkInvariant } from './invariant.js';

const PG_URL = process.env.CORRAL_TEST_PG_URL ?? 'postgres://corral:corral@127.0.0.1:5432/corral_test';
const COUNT = 8;
const schema = `faults_${process.pid}_${Date.now()}`;

function cluster(action: 'restart' | 'start'): void {
  execFileSync('pg_ctlcluster', ['15', 'main', action], { stdio: 'ignore', timeout: 60_000 });
}

function clusterOnline(): boolean {
  return execFileSync('pg_lsclusters', ['-h'], { encoding: 'utf8' }).includes('online');
}

async function dropSchema(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}

/**
 * `until`, retried while the database is away: the caller's own reads fail during the restart (as an API
 * request would); what must survive is the work in the background.
 */
async function untilThroughOutage(
  plane: ControlPlane,
  id: string,
  predicate: (view: InstanceView) => boolean,
  timeoutMs: number,
): Promise<InstanceView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await until(plane, id, predicate, Math.max(1, deadline - Date.now()));
    } catch (error) {
      if (Date.now() >= deadline || String(error).includes('timed out waiting')) throw error;
      await sleep(200);
    }
  }
}

describe('PostgreSQL restart during work', () => {
  let env: FaultEnv;
  let plane: ControlPlane;
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4, options: `-c search_path=${schema}` });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));

  beforeAll(async () => {
    const store = await createPostgresStore({ pool, schema });
    env = await startFaultEnv({ store });
    plane = await env.startPlane({
      timeouts: { ...FAST.timeouts, buildMs: 20_000 },
      heartbeat: { ...FAST.heartbeat, expiryMs: 5_000 },
      lease: { leaseMs: 3_000, idleMs: 100 },
    });
  });
  afterAll(async () => {
    if (!clusterOnline()) cluster('start');
    await env?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    await dropSchema().catch(() => undefined);
  });

  it(`${COUNT} creates across a restart, deletes across another`, { timeout: 100_000 }, async () => {
    const views = await Promise.all(Array.from({ length: COUNT }, (_, i) => create(plane, `pg-${i}`)));
    await sleep(50);
    cluster('restart');
    const done = await Promise.all(
      views.map((v) =>
        untilThroughOutage(
          plane,
          v.id,
          (x) => idle(x) && (x.status === 'ACTIVE' || x.taskStatus.includes('ERROR')),
          60_000,
        ),
      ),
    );
    const first = await checkInvariant(env);
    expect(first.active + first.errored).toBe(COUNT);
    expect(first.servers).toBe(done.filter((v) => v.serverId !== null).length);

    const doomed = views.slice(0, COUNT / 2);
    await Promise.all(doomed.map((v) => plane.instances.delete(v.id)));
    cluster('restart');
    const gone = await Promise.all(
      doomed.map((v) =>
        untilThroughOutage(plane, v.id, (x) => x.deletedAt !== null || x.taskStatus === 'DELETE_ERROR', 60_000),
      ),
    );
    for (const view of gone) expect(view.deletedAt, view.name).not.toBeNull();
    const report = await checkInvariant(env);
    console.log(
      `[faults] PostgreSQL restart (2 restarts): ${JSON.stringify(report)}; first pass ${JSON.stringify(first)}`,
    );
    expect(report).toMatchObject({ deleted: COUNT / 2 });
    expect(report.active + report.errored).toBe(COUNT / 2);
  });
});
