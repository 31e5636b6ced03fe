export * from './networks/index.js';
