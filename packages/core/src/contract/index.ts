/**
 * `@corral/core/contract`: what corral's parts agree on, and nothing that runs a control plane. A provider
 * package or the guest agent imports this (no stores, brokers, task manager or PKI come with it):
 *
 * - the provider specification (`ProviderV1`, its request and server shapes) and the typed provider errors;
 * - the guest RPC contract (`guestMethods`) and the messages a guest sends the conductor;
 * - the agent's configuration (the seed a provider writes into the guest);
 * - the status vocabulary (service, task and composite statuses);
 * - the error family every corral error belongs to (`CorralError`, with a stable `code` and a `kind`).
 *
 * The import graph is tested (entry-points.test.ts): nothing here may pull in a store, a broker or the task manager.
 */

export * from '../conductor/messages.js';
export * from '../errors/index.js';
export * from '../guest/agent-config.js';
export * from '../guest/contract.js';
export * from '../provider/index.js';
export * from '../status/index.js';
export * from './values.js';
