import {
  SQLITE_BUSY,
  SQLITE_CONSTRAINT_PRIMARYKEY,
  SQLITE_CONSTRAINT_UNIQUE,
  type SqliteConnection,
  type SqliteStatement,
  type SqliteValue,
} from './connection.js';

/**
 * The part of `node:sqlite` used here, typed by hand: @types/node follows the Node 20 floor, which has no
 * `node:sqlite`, and typing against Node 22's declarations would let Node 22-only calls pass the type check.
 */
interface StatementSync {
  all(...params: SqliteValue[]): Record<string, unknown>[];
  run(...params: SqliteValue[]): unknown;
}
interface DatabaseSync {
  exec(sql: string): void;
  prepare(sql: string): StatementSync;
  close(): void;
}
interface NodeSqlite {
  DatabaseSync: new (path: string) => DatabaseSync;
}

/**
 * `node:sqlite` when this Node has it without a flag (22.13+, 23.4+, 24); undefined on Node 20. Looked up at
 * call time, never imported: a static import would fail to load on Node 20. Node 22 prints a one-time
 * ExperimentalWarning when it is first loaded (Node 24 does not).
 */
export function nodeSqlite(): NodeSqlite | undefined {
  const module = process.getBuiltinModule('node:sqlite') as Partial<NodeSqlite> | undefined;
  return typeof module?.DatabaseSync === 'function' ? (module as NodeSqlite) : undefined;
}

/** node:sqlite's errors carry SQLite's extended result code as `errcode` (their `code` is ERR_SQLITE_ERROR). */
function resultCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('errcode' in error)) return undefined;
  return typeof error.errcode === 'number' ? error.errcode : undefined;
}

export function openNodeSqlite(sqlite: NodeSqlite, path: string): SqliteConnection {
  const db = new sqlite.DatabaseSync(path);
  let open = true;
  return {
    driver: 'node:sqlite',
    exec: (sql) => db.exec(sql),
    prepare(sql): SqliteStatement {
      const statement = db.prepare(sql);
      return {
        all: (params) => statement.all(...params),
        run: (params) => {
          statement.run(...params);
        },
      };
    },
    close() {
      if (open) db.close();
      open = false;
    },
    classify(error) {
      const code = resultCode(error);
      if (code === undefined) return undefined;
      if ((code & 0xff) === SQLITE_BUSY) return 'busy';
      if (code === SQLITE_CONSTRAINT_PRIMARYKEY || code === SQLITE_CONSTRAINT_UNIQUE) return 'unique-violation';
      return undefined;
    },
  };
}
