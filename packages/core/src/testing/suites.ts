/**
 * `@corral/core/testing/suites`: the conformance suites a provider or store package runs against its real
 * backend. They call vitest's `describe`/`it`, so vitest (an optional peer dependency of @corral/core) must be
 * installed where these are imported; nothing else in @corral/core needs it.
 */
export * from './provider-contract.js';
export * from './store-contract.js';
