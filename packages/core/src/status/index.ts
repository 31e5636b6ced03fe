// Server statuses are the provider's vocabulary: see provider/types.ts (ServerStatus).
export * from './composite.js';
export * from './define.js';
export * from './service-status.js';
export * from './task-status.js';
