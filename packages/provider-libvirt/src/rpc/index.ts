export * from './client.js';
export * from './errors.js';
export * from './limits.js';
export * from './packet.js';
export * from './remote.js';
export * from './transport.js';
export * from './uri.js';
