export * from './errors.js';
export { createMemoryStore } from './memory.js';
export { createPostgresStore, type PostgresStoreOptions } from './postgres.js';
export { createSqliteStore, type SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { defaultSqliteDriver, type SqliteDriverChoice, type SqliteDriverName } from './sqlite-drivers/index.js';
export * from './types.js';
