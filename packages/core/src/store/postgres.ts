import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ValidationError } from '../errors/index.js';
import type { Backend, TxOps } from './backend.js';
import { StoreEngine } from './engine.js';
import { postgresMigrations } from './sql/migrations.js';
import { type SqlExecutor, sqlOps } from './sql/ops.js';
import type { Store, StoreOptions } from './types.js';

export interface PostgresStoreOptions extends StoreOptions {
  /** e.g. postgres://corral:corral@127.0.0.1:5432/corral. Ignored when `pool` is given. */
  connectionString?: string;
  /** Use this pool instead of making one (the store then does not end it on close). */
  pool?: pg.Pool;
  /** Schema to keep the tables in (created if missing); default `public`. */
  schema?: string;
  /** Pool size when the store makes the pool (default 10). */
  max?: number;
}

/** Serialization failure and deadlock: PostgreSQL aborted the transaction; running it again is safe. */
const RETRYABLE = new Set(['40001', '40P01']);
const MIGRATION_LOCK = 0x636f7272616c; // "corral"

const pgCode = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;

/** `?` placeholders → `$1, $2…` (our SQL has no `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * PostgreSQL through `pg`: a transaction per store call on a pooled client, rows read for writing are locked
 * (`FOR UPDATE`) until commit, and the task claim skips rows other workers hold (`FOR UPDATE SKIP LOCKED`),
 * so several control-plane processes share one database safely.
 */
class PostgresBackend implements Backend {
  readonly kind = 'postgres' as const;
  private readonly texts = new Map<string, string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
  ) {}

  private text(sql: string): string {
    let text = this.texts.get(sql);
    if (text === undefined) {
      text = numbered(sql);
      this.texts.set(sql, text);
    }
    return text;
  }

  private ops(client: pg.PoolClient, readOnly: boolean): TxOps {
    const executor: SqlExecutor = {
      all: async (sql, params) => (await client.query(this.text(sql), params as unknown[])).rows,
      run: async (sql, params) => {
        await client.query(this.text(sql), params as unknown[]);
      },
      isUniqueViolation: (error) => pgCode(error) === '23505',
    };
    return readOnly
      ? sqlOps(executor, { lockRow: '', lockSkip: '', arrays: true })
      : sqlOps(executor, { lockRow: 'FOR UPDATE', lockSkip: 'FOR UPDATE SKIP LOCKED', arrays: true });
  }

  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Two processes starting at once: one migrates, the other waits and then finds nothing to do.
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => Number(r.version)));
      for (const migration of postgresMigrations) {
        if (applied.has(migration.version)) continue;
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          Date.now(),
        ]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async transaction<T>(fn: (tx: TxOps) => Promise<T>, options?: { readOnly?: boolean }): Promise<T> {
    const readOnly = options?.readOnly ?? false;
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken = false;
      try {
        await client.query(readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
        const result = await fn(this.ops(client, readOnly));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        if (attempt < 5 && RETRYABLE.has(pgCode(error) ?? '')) {
          await sleep(Math.random() * 10 * attempt);
          continue;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Opens (creating the schema and migrating as needed) a PostgreSQL store. */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) {
    const message = 'must be lower-case letters, digits and "_", starting with a letter or "_" (at most 63)';
    throw new ValidationError(`invalid PostgreSQL store options: schema: ${message} (got "${schema}")`, [
      { path: 'schema', message },
    ]);
  }
  const ownsPool = options.pool === undefined;
  const pool =
    options.pool ??
    new pg.Pool({
      connectionString: options.connectionString,
      max: options.max ?? 10,
      // Every connection works in the store's schema.
      options: `-c search_path=${schema}`,
    });
  // A client error must not crash the process: while idle in the pool (the pool replaces the client), and while
  // checked out, e.g. the server restarting under a transaction (57P01); that query rejects, and the retry or
  // the caller deals with it.
  if (ownsPool) {
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
  }
  const backend = new PostgresBackend(pool, ownsPool);
  try {
    if (schema !== 'public') {
      // Two processes creating it at once: one may see the other's row appear (23505) or the schema (42P06).
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`).catch((error: unknown) => {
        if (!['23505', '42P06'].includes(pgCode(error) ?? '')) throw error;
      });
    }
    await backend.migrate();
  } catch (error) {
    await backend.close();
    throw error;
  }
  return new StoreEngine(backend, options);
}
