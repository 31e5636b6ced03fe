/**
 * The store conformance suite against real PostgreSQL. Needs scripts/setup/10-postgresql.sh (Debian's
 * cluster on 127.0.0.1:5432, role corral, database corral_test); connection from CORRAL_TEST_PG or that
 * default. Every test works in a schema of its own, dropped afterwards; the races use two separate pools.
 */
import { randomBytes } from 'node:crypto';
import { createPostgresStore } from '@corral/core';
import { describeStoreContract } from '@corral/core/testing/suites';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const connectionString = process.env.CORRAL_TEST_PG ?? 'postgres://corral:corral@127.0.0.1:5432/corral_test';
const admin = new pg.Pool({ connectionString, max: 2 });
const schemas: string[] = [];

beforeAll(async () => {
  // Fail loudly, naming the script, rather than time out test by test.
  await admin.query('SELECT 1').catch((error: unknown) => {
    throw new Error(
      `PostgreSQL at ${connectionString} is not reachable (run scripts/setup/10-postgresql.sh): ${String(error)}`,
    );
  });
});

afterAll(async () => {
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

function freshSchema(): string {
  const schema = `corral_t_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

describeStoreContract(
  'postgres',
  async (clock) => {
    const schema = freshSchema();
    let store = await createPostgresStore({ connectionString, schema, clock, max: 4 });
    // Another control-plane process: its own pool, its own connections.
    const peer = await createPostgresStore({ connectionString, schema, clock, max: 4 });
    return {
      get store() {
        return store;
      },
      peer,
      reopen: async () => {
        await store.close();
        store = await createPostgresStore({ connectionString, schema, clock, max: 4 });
        return store;
      },
      close: async () => {
        await Promise.all([store.close(), peer.close()]);
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      },
    };
  },
  { durable: true },
);

describe('postgres store', () => {
  it('migrates once, even when two processes start together', async () => {
    const schema = freshSchema();
    const stores = await Promise.all([
      createPostgresStore({ connectionString, schema, max: 2 }),
      createPostgresStore({ connectionString, schema, max: 2 }),
    ]);
    await Promise.all(stores.map((s) => s.close()));
    const { rows } = await admin.query(`SELECT version, name FROM ${schema}.schema_migrations ORDER BY version`);
    expect(rows).toEqual([
      { version: 1, name: 'instances, tasks, guest certificates' },
      { version: 2, name: 'guest certificate public key fingerprint' },
    ]);
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await expect(createPostgresStore({ connectionString, schema: 'x; DROP TABLE y' })).rejects.toThrow(
      /schema: must be lower-case letters.*got "x; DROP TABLE y"/,
    );
  });
});
