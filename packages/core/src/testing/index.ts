export * from './store-contract.js';
export {};
