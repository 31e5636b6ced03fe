import { loadBetterSqlite3, openBetterSqlite3 } from './better-sqlite3.js';
import type { SqliteConnection, SqliteDriverName } from './connection.js';
import { nodeSqlite, openNodeSqlite } from './node-sqlite.js';

export type { SqliteConnection, SqliteDriverName, SqliteStatement, SqliteValue } from './connection.js';

/** `auto`: node:sqlite where this Node has it, better-sqlite3 otherwise. */
export type SqliteDriverChoice = SqliteDriverName | 'auto';

/** The driver `auto` picks on this Node. */
export function defaultSqliteDriver(): SqliteDriverName {
  return nodeSqlite() ? 'node:sqlite' : 'better-sqlite3';
}

/** Opens a connection to the database file (`:memory:` for a private in-memory one) with the chosen driver. */
export async function openSqliteConnection(
  path: string,
  choice: SqliteDriverChoice = 'auto',
): Promise<SqliteConnection> {
  const driver = choice === 'auto' ? defaultSqliteDriver() : choice;
  switch (driver) {
    case 'node:sqlite': {
      const sqlite = nodeSqlite();
      if (!sqlite) throw new Error(`node:sqlite is not available on Node ${process.version} (it needs >= 22.13)`);
      return openNodeSqlite(sqlite, path);
    }
    case 'better-sqlite3':
      return openBetterSqlite3(await loadBetterSqlite3(), path);
    default:
      throw new Error(
        `unknown SQLite driver '${String(driver satisfies never)}' (node:sqlite, better-sqlite3 or auto)`,
      );
  }
}

/** The drivers that open a database on this Node (better-sqlite3 only where its native module matches its ABI). */
export async function availableSqliteDrivers(): Promise<SqliteDriverName[]> {
  const drivers: SqliteDriverName[] = [];
  for (const driver of ['node:sqlite', 'better-sqlite3'] as const) {
    try {
      (await openSqliteConnection(':memory:', driver)).close();
      drivers.push(driver);
    } catch {
      // Not on this Node: node:sqlite before 22.13, better-sqlite3 missing or built for another Node.
    }
  }
  return drivers;
}
