/**
 * `@corral/core/messaging`: the MQTT client side, what both the control plane and the guest agent use (the
 * transport with call/cast/reply, the method registry, topics, envelopes, identities, liveness messages).
 * The brokers (embedded aedes, a managed mosquitto) are control-plane parts: the main index exports them.
 */
export * from './backoff.js';
export * from './dedupe.js';
export * from './envelope.js';
export * from './errors.js';
export * from './identity.js';
export * from './liveness.js';
export * from './log.js';
export * from './registry.js';
export * from './topics.js';
export * from './transport.js';
