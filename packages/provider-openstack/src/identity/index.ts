export * from './applicationcredentials/index.js';
export * from './auth-options.js';
export * from './catalog.js';
export * from './config.js';
export * from './projects/index.js';
export * from './roles/index.js';
export * from './session.js';
export * from './tokens/index.js';
