/**
 * `@corral/core/testing`: fakes for tests and demos, with no test runner needed (`corral up --provider fake`
 * uses them). The conformance suites, which run under vitest, are `@corral/core/testing/suites`.
 */
export * from '../enrolment/testing.js';
export * from './fake-guest.js';
export * from './fake-provider.js';
export * from './samples.js';
