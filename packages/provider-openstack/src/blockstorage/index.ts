export * from './volumes/index.js';
