export * from './catalog.js';
export * from './defaults.js';
export * from './errors.js';
export * from './models.js';
export * from './overrides.js';
