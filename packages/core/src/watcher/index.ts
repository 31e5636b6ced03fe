export * from './limiter.js';
export * from './observe.js';
export * from './options.js';
export * from './watcher.js';
