export * from '../enrolment/testing.js';
export * from './fake-guest.js';
export * from './fake-provider.js';
export * from './provider-contract.js';
export * from './store-contract.js';
