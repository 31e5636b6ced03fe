/**
 * Heartbeat ingestion through the store's batch write, on real SQLite (a temp file; needs nothing started)
 * and PostgreSQL (scripts/setup/10-postgresql.sh). Prints the rate; asserts a floor well below what this
 * machine does (see packages/core/README.md for the figures), so the test checks batching works, not speed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPostgresStore, createSqliteStore, type ServiceStatusReport, type Store } from '@corral/core';
import { sampleInstance } from '@corral/core/testing';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

const INSTANCES = 1_000;
const BATCH = 1_000;

/** Heartbeats per wall-clock second, and per second of this process's CPU (steadier on a busy machine). */
async function measure(store: Store, total: number): Promise<{ wall: number; cpu: number }> {
  for (let i = 0; i < INSTANCES; i++) await store.createInstance(sampleInstance(`hb-${i}`));
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  let seq = 0;
  for (let sent = 0; sent < total; sent += BATCH) {
    seq += 1;
    const batch: ServiceStatusReport[] = Array.from({ length: BATCH }, (_, j) => ({
      instanceId: `hb-${(sent + j) % INSTANCES}`,
      bootId: 'boot-1',
      seq: seq * BATCH + j,
      status: j % 7 === 0 ? 'RUNNING' : 'HEALTHY',
    }));
    const results = await store.applyServiceStatuses(batch);
    if (results.some((r) => !r.applied)) throw new Error('a heartbeat was not applied');
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const sample = await store.getInstance('hb-0');
  expect(sample.lastBootId).toBe('boot-1');
  return { wall: total / wallSeconds, cpu: total / cpuSeconds };
}

describe('heartbeat ingestion', () => {
  const dir = mkdtempSync(join(tmpdir(), 'corral-hb-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sqlite ingests batched heartbeats fast', async () => {
    const store = await createSqliteStore({ path: join(dir, 'hb.db') });
    try {
      const rate = await measure(store, 100_000);
      console.log(
        `sqlite: ${Math.round(rate.wall)} heartbeats/s wall, ${Math.round(rate.cpu)} per CPU-second (batches of ${BATCH}, ${INSTANCES} instances)`,
      );
      expect(rate.wall).toBeGreaterThan(2_000);
    } finally {
      await store.close();
    }
  });

  it('postgres ingests batched heartbeats', async () => {
    const connectionString = process.env.CORRAL_TEST_PG ?? 'postgres://corral:corral@127.0.0.1:5432/corral_test';
    const schema = `corral_hb_${process.pid}`;
    const store = await createPostgresStore({ connectionString, schema });
    const admin = new pg.Pool({ connectionString, max: 1 });
    try {
      const rate = await measure(store, 20_000);
      console.log(
        `postgres: ${Math.round(rate.wall)} heartbeats/s wall, ${Math.round(rate.cpu)} per CPU-second of the client (batches of ${BATCH}, ${INSTANCES} instances)`,
      );
      expect(rate.wall).toBeGreaterThan(500);
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  });
});
