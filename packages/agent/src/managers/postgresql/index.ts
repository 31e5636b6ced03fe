export { createPostgresManager, PostgresManager, type PostgresOptions, PostgresOptionsSchema } from './manager.js';
