/** The SQLite drivers the store can run on: Node's built-in `node:sqlite` (22.13+), or the better-sqlite3 package. */
export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3';

/** Values both drivers bind (booleans and undefined are mapped before they get here). */
export type SqliteValue = string | number | bigint | Uint8Array | null;

export interface SqliteStatement {
  all(params: readonly SqliteValue[]): Record<string, unknown>[];
  run(params: readonly SqliteValue[]): void;
}

/**
 * One synchronous connection, the part of a driver the SQLite store uses. Both drivers are synchronous, so a
 * statement runs to completion without yielding; the store serialises transactions itself.
 */
export interface SqliteConnection {
  readonly driver: SqliteDriverName;
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  /** Closes once; later calls do nothing. */
  close(): void;
  /** What a driver's error means to the store: another connection holds the lock, or a key already exists. */
  classify(error: unknown): 'busy' | 'unique-violation' | undefined;
}

// SQLite's result codes (https://sqlite.org/rescode.html): the primary code is the low byte of the extended one.
export const SQLITE_BUSY = 5;
export const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
export const SQLITE_CONSTRAINT_UNIQUE = 2067;
