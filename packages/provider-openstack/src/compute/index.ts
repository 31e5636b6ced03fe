export * from './flavors/index.js';
export * from './microversion.js';
export * from './quotasets/index.js';
export * from './servers/index.js';
export * from './volumeattach/index.js';
