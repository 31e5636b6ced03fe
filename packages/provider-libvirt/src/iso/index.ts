export * from './iso9660.js';
export * from './nocloud.js';
