export * from './domain-xml.js';
export * from './errors.js';
export * from './guest-image.js';
export * from './metadata.js';
export * from './options.js';
export * from './provider.js';
export * from './status.js';
