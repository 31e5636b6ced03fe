export * from './errors.js';
export * from './http.js';
export * from './logger.js';
export * from './pagination.js';
