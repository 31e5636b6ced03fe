import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { type Backend, Mutex, type TxOps } from './backend.js';
import { StoreEngine } from './engine.js';
import { sqliteMigrations } from './sql/migrations.js';
import { type SqlExecutor, sqlOps } from './sql/ops.js';
import type { Row } from './sql/rows.js';
import type { Store, StoreOptions } from './types.js';

export interface SqliteStoreOptions extends StoreOptions {
  /** Database file; created with its schema on first open. */
  path: string;
  /** How long a transaction keeps retrying while another process holds the write lock (default 10 s). */
  busyWaitMs?: number;
}

type Statement = Database.Statement<unknown[], Row>;

/**
 * SQLite through better-sqlite3: a file on disk in WAL mode, synchronous=NORMAL (durable across process
 * crashes; a power cut may lose the last transactions, never corrupt). One connection per store object runs
 * one transaction at a time (`BEGIN IMMEDIATE`). A second store object or process on the same file waits
 * its turn: the write lock is retried asynchronously rather than with SQLite's busy handler, which would
 * block the event loop and with it the transaction holding the lock when both live in one process.
 */
class SqliteBackend implements Backend {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly mutex = new Mutex();
  private readonly statements = new Map<string, Statement>();
  private readonly ops: TxOps;
  private readonly busyWaitMs: number;

  constructor(options: SqliteStoreOptions) {
    this.busyWaitMs = options.busyWaitMs ?? 10_000;
    this.db = new Database(options.path);
    this.db.pragma('busy_timeout = 0');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    const executor: SqlExecutor = {
      all: async (sql, params) => this.statement(sql).all(...params.map(bindable)),
      run: async (sql, params) => {
        this.statement(sql).run(...params.map(bindable));
      },
      isUniqueViolation: (error) =>
        error instanceof Error &&
        'code' in error &&
        (error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || error.code === 'SQLITE_CONSTRAINT_UNIQUE'),
    };
    this.ops = sqlOps(executor, { lockRow: '', lockSkip: '', arrays: false });
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], Row>(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** BEGIN IMMEDIATE, retried without blocking while another connection writes. */
  private async begin(): Promise<void> {
    const giveUpAt = Date.now() + this.busyWaitMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        this.db.exec('BEGIN IMMEDIATE');
        return;
      } catch (error) {
        const busy = error instanceof Error && 'code' in error && String(error.code).startsWith('SQLITE_BUSY');
        if (!busy || Date.now() > giveUpAt) throw error;
        await sleep(delay);
      }
    }
  }

  async migrate(): Promise<void> {
    await this.mutex.run(async () => {
      await this.begin();
      try {
        this.db.exec(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
        );
        const applied = new Set(
          this.db
            .prepare<[], { version: number }>('SELECT version FROM schema_migrations')
            .all()
            .map((r) => r.version),
        );
        for (const migration of sqliteMigrations) {
          if (applied.has(migration.version)) continue;
          this.db.exec(migration.sql);
          this.db
            .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
            .run(migration.version, migration.name, Date.now());
        }
        this.db.exec('COMMIT');
      } catch (error) {
        this.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  transaction<T>(fn: (tx: TxOps) => Promise<T>, options?: { readOnly?: boolean }): Promise<T> {
    return this.mutex.run(async () => {
      // Readers need no write lock: in WAL mode they see the last commit while another process writes.
      if (options?.readOnly) this.db.exec('BEGIN DEFERRED');
      else await this.begin();
      try {
        const result = await fn(this.ops);
        this.db.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => {
      if (this.db.open) this.db.close();
    });
  }
}

/** better-sqlite3 binds numbers, strings, bigints, buffers and null; booleans become 0/1. */
function bindable(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

/** Opens (creating and migrating as needed) a SQLite store: the embedded default, durable on disk. */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const backend = new SqliteBackend(options);
  try {
    await backend.migrate();
  } catch (error) {
    await backend.close();
    throw error;
  }
  return new StoreEngine(backend, options);
}
