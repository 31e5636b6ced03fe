export * from './convert.js';
export { encodeUserData } from './create.js';
export * from './options.js';
export * from './provider.js';
export * from './wait.js';
