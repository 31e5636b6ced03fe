export * from './errors.js';
export { createMemoryStore } from './memory.js';
export { createPostgresStore, type PostgresStoreOptions } from './postgres.js';
export { createSqliteStore, type SqliteStoreOptions } from './sqlite.js';
export * from './types.js';
