export * from './errors.js';
export { createMemoryStore } from './memory.js';
export * from './types.js';
