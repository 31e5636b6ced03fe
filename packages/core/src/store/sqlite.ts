import { setTimeout as sleep } from 'node:timers/promises';
import { type Backend, Mutex, type TxOps } from './backend.js';
import { StoreEngine } from './engine.js';
import { sqliteMigrations } from './sql/migrations.js';
import { type SqlExecutor, sqlOps } from './sql/ops.js';
import {
  openSqliteConnection,
  type SqliteConnection,
  type SqliteDriverChoice,
  type SqliteDriverName,
  type SqliteStatement,
  type SqliteValue,
} from './sqlite-drivers/index.js';
import type { Store, StoreOptions } from './types.js';

export interface SqliteStoreOptions extends StoreOptions {
  /** Database file; created with its schema on first open. */
  path: string;
  /** How long a transaction keeps retrying while another process holds the write lock (default 10 s). */
  busyWaitMs?: number;
  /**
   * `auto` (default): Node's built-in `node:sqlite` where present (Node 22.13+), else the better-sqlite3
   * package (an optional peer dependency, needed on Node 20 only). Both read and write the same file format.
   */
  driver?: SqliteDriverChoice;
}

/** A SQLite store, saying which driver it runs on. */
export interface SqliteStore extends Store {
  readonly driver: SqliteDriverName;
}

/**
 * SQLite through a synchronous driver (node:sqlite or better-sqlite3): a file on disk in WAL mode,
 * synchronous=NORMAL (durable across process crashes; a power cut may lose the last transactions, never
 * corrupt). One connection per store object runs one transaction at a time (`BEGIN IMMEDIATE`). A second
 * store object or process on the same file waits its turn: the write lock is retried asynchronously rather
 * than with SQLite's busy handler, which would block the event loop and with it the transaction holding the
 * lock when both live in one process.
 */
class SqliteBackend implements Backend {
  readonly kind = 'sqlite' as const;
  private readonly mutex = new Mutex();
  private readonly statements = new Map<string, SqliteStatement>();
  private readonly ops: TxOps;
  private readonly busyWaitMs: number;

  constructor(
    private readonly db: SqliteConnection,
    options: SqliteStoreOptions,
  ) {
    this.busyWaitMs = options.busyWaitMs ?? 10_000;
    this.db.exec('PRAGMA busy_timeout = 0');
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.db.exec('PRAGMA foreign_keys = ON');
    const executor: SqlExecutor = {
      all: async (sql, params) => this.statement(sql).all(params.map(bindable)),
      run: async (sql, params) => {
        this.statement(sql).run(params.map(bindable));
      },
      isUniqueViolation: (error) => this.db.classify(error) === 'unique-violation',
    };
    this.ops = sqlOps(executor, { lockRow: '', lockSkip: '', arrays: false });
  }

  private statement(sql: string): SqliteStatement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** After a failed statement or COMMIT; SQLite may already have rolled back on its own. */
  private rollback(): void {
    try {
      this.db.exec('ROLLBACK');
    } catch {
      // No transaction was open any more.
    }
  }

  /** BEGIN IMMEDIATE, retried without blocking while another connection writes. */
  private async begin(): Promise<void> {
    const giveUpAt = Date.now() + this.busyWaitMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        this.db.exec('BEGIN IMMEDIATE');
        return;
      } catch (error) {
        if (this.db.classify(error) !== 'busy' || Date.now() > giveUpAt) throw error;
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
            .prepare('SELECT version FROM schema_migrations')
            .all([])
            .map((row) => Number(row.version)),
        );
        for (const migration of sqliteMigrations) {
          if (applied.has(migration.version)) continue;
          this.db.exec(migration.sql);
          this.db
            .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
            .run([migration.version, migration.name, Date.now()]);
        }
        this.db.exec('COMMIT');
      } catch (error) {
        this.rollback();
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
        this.rollback();
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => this.db.close());
  }
}

/** Both drivers bind numbers, strings, bigints, byte arrays and null; booleans become 0/1. */
function bindable(value: unknown): SqliteValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') return value;
  if (value instanceof Uint8Array) return value;
  throw new TypeError(`cannot bind a ${typeof value} to a SQLite parameter`);
}

class SqliteStoreEngine extends StoreEngine implements SqliteStore {
  constructor(
    backend: SqliteBackend,
    options: StoreOptions,
    readonly driver: SqliteDriverName,
  ) {
    super(backend, options);
  }
}

/** Opens (creating and migrating as needed) a SQLite store: the embedded default, durable on disk. */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const connection = await openSqliteConnection(options.path, options.driver);
  let backend: SqliteBackend;
  try {
    backend = new SqliteBackend(connection, options);
    await backend.migrate();
  } catch (error) {
    connection.close();
    throw error;
  }
  return new SqliteStoreEngine(backend, options, connection.driver);
}
