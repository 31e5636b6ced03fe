/**
 * Heartbeats ingested per second by one conductor, on SQLite and on PostgreSQL: the conductor's own pipeline
 * (args validation, the identity check, (boot id, seq) ordering in the store, batched transactions, status
 * events) fed as fast as it takes them. MQTT delivery is left out: it is the broker's throughput, not the
 * conductor's. `npx tsx bench/conductor-ingest.ts` prints one JSON line.
 * PostgreSQL from scripts/setup/10-postgresql.sh (skipped with a note when unreachable). BENCH_SQLITE_DRIVER
 * picks the SQLite driver (default: the store's own choice); BENCH_SQLITE_ONLY=1 skips PostgreSQL
 * (bench/sqlite-drivers.ts runs this once per Node and driver).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Conductor,
  createPostgresStore,
  createSqliteStore,
  GuestPresence,
  type SqliteDriverChoice,
  StatusEventBus,
  type Store,
} from '@corral/core';
import type { MqttTransport } from '@corral/core/messaging';
import pg from 'pg';
import pino from 'pino';

const PG_URL = process.env.CORRAL_TEST_PG_URL ?? 'postgres://corral:corral@127.0.0.1:5432/corral_test';
const INSTANCES = 1_000;
const HEARTBEATS = Number(process.env.BENCH_HEARTBEATS ?? 100_000);
const DRIVER = (process.env.BENCH_SQLITE_DRIVER ?? 'auto') as SqliteDriverChoice;

async function run(store: Store, maxBatch: number): Promise<{ perSecond: number; applied: number; ms: number }> {
  for (let i = 0; i < INSTANCES; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, j) =>
        store.createInstance({
          id: `bench-${i + j}`,
          name: `bench-${i + j}`,
          projectId: 'bench',
          provider: 'fake',
          flavor: 'small',
          image: 'img',
          datastore: { type: 'redis', version: '7' },
          taskStatus: 'NONE',
        }),
      ),
    );
  }
  const conductor = new Conductor({
    store,
    // Not started: the benchmark feeds `receive` directly, as the transport's handler does.
    transport: undefined as unknown as MqttTransport,
    events: new StatusEventBus(),
    presence: new GuestPresence(),
    logger: pino({ level: 'silent' }),
    batch: { maxBatch },
  });
  const started = performance.now();
  const seqs = new Map<number, number>();
  for (let n = 0; n < HEARTBEATS; n++) {
    const i = n % INSTANCES;
    const seq = (seqs.get(i) ?? 0) + 1;
    seqs.set(i, seq);
    conductor.receive(
      { instanceId: `bench-${i}`, serviceStatus: seq % 50 === 0 ? 'BLOCKED' : 'HEALTHY' },
      { guestId: `bench-${i}`, bootId: 'boot-1', seq },
    );
    // Yield now and then, as a socket would, so batches flush while heartbeats arrive.
    if (n % 5_000 === 4_999) await new Promise((resolve) => setImmediate(resolve));
  }
  await conductor.drain();
  const ms = performance.now() - started;
  return { perSecond: Math.round((HEARTBEATS / ms) * 1000), applied: conductor.metrics.applied, ms: Math.round(ms) };
}

class SkipPostgres extends Error {}

const dir = mkdtempSync(join(tmpdir(), 'corral-bench-'));
const result: Record<string, unknown> = {
  setup: `${HEARTBEATS} heartbeats over ${INSTANCES} instances, one conductor, group commit: a batch is what queued behind the last transaction, up to 1000; load average (1 min) ${loadavg()[0]?.toFixed(1)} at the end (other work shares the cores)`,
  anchor: 'aim: >= 20000 heartbeats/s',
};
try {
  const sqlite = await createSqliteStore({ path: join(dir, 'bench.db'), driver: DRIVER });
  result.setup = `${result.setup}; SQLite on ${sqlite.driver}, node ${process.version}`;
  result.sqlite = await run(sqlite, 1_000);
  await sqlite.close();
  if (process.env.BENCH_SQLITE_ONLY === '1') throw new SkipPostgres();
  const schema = `bench_${process.pid}`;
  let postgres: Store | undefined;
  try {
    postgres = await createPostgresStore({ connectionString: PG_URL, schema, max: 4 });
  } catch (error) {
    result.postgres = { skipped: `PostgreSQL unreachable: ${(error as Error).message}` };
  }
  if (postgres) {
    try {
      result.postgres = await run(postgres, 1_000);
    } finally {
      await postgres.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  }
} catch (error) {
  if (!(error instanceof SkipPostgres)) throw error;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
