import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteConnection, SqliteStatement } from './connection.js';

type Database = typeof BetterSqlite3;

/**
 * The better-sqlite3 package, for Node without `node:sqlite` (Node 20). An optional peer dependency of core,
 * loaded only when chosen: its native module is built for one Node ABI, and Node 22+ never needs it.
 */
export async function loadBetterSqlite3(): Promise<Database> {
  try {
    return (await import('better-sqlite3')).default;
  } catch (error) {
    throw new Error(
      `the SQLite store needs node:sqlite (Node >= 22.13) or the better-sqlite3 package (npm install better-sqlite3): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** better-sqlite3 names the extended result code as a string (`SQLITE_BUSY_SNAPSHOT`, `SQLITE_CONSTRAINT_UNIQUE`). */
function resultCode(error: unknown): string | undefined {
  if (!(error instanceof Error) || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** better-sqlite3 loads its native module on first open; one built for another Node's ABI fails there. */
function isNativeLoadFailure(error: unknown): boolean {
  return (
    error instanceof Error &&
    (('code' in error && error.code === 'ERR_DLOPEN_FAILED') || /NODE_MODULE_VERSION|self-register/.test(error.message))
  );
}

function open(Database: Database, path: string): InstanceType<Database> {
  try {
    return new Database(path);
  } catch (error) {
    if (!isNativeLoadFailure(error)) throw error;
    throw new Error(
      `better-sqlite3's native module does not load on Node ${process.version} (built for another Node: npm rebuild better-sqlite3; Node >= 22.13 needs none, with node:sqlite): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

export function openBetterSqlite3(Database: Database, path: string): SqliteConnection {
  const db = open(Database, path);
  return {
    driver: 'better-sqlite3',
    exec: (sql) => {
      db.exec(sql);
    },
    prepare(sql): SqliteStatement {
      const statement = db.prepare<unknown[], Record<string, unknown>>(sql);
      return {
        all: (params) => statement.all(...params),
        run: (params) => {
          statement.run(...params);
        },
      };
    },
    close() {
      if (db.open) db.close();
    },
    classify(error) {
      const code = resultCode(error);
      if (code?.startsWith('SQLITE_BUSY')) return 'busy';
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') return 'unique-violation';
      return undefined;
    },
  };
}
