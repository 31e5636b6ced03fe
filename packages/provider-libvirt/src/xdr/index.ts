export * from './codec.js';
export * from './errors.js';
export * from './reader.js';
export * from './writer.js';
