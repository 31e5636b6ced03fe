/**
 * `@corral/core`: what a control plane imports. Grouped below; each group says what it is for.
 *
 * Other entry points:
 * - `@corral/core/contract`: the provider spec, guest RPC contract, conductor messages, statuses and errors
 *   alone (what a provider package or the agent imports). Everything in it is re-exported here too.
 * - `@corral/core/messaging`: the MQTT client side (transport, topics, envelopes, identities).
 * - `@corral/core/pki`: certificates (CA, guest/server/service certificates, CSRs, revocation lists).
 * - `@corral/core/testing` (fakes, no test runner) and `@corral/core/testing/suites` (vitest suites).
 */

// Conductor: heartbeats and reports from guests, presence, the status-event relay between processes.
export { Conductor, type ConductorMetrics, type ConductorOptions } from './conductor/manager.js';
export { GuestPresence } from './conductor/presence.js';
export { EventRelay, type EventRelayOptions } from './conductor/relay.js';
// The contract: provider spec, guest RPC, conductor messages, statuses, the error family.
export * from './contract/index.js';
// Assembling a control plane: every role in one call, or the embedded one-process setup.
export {
  type ControlPlane,
  type ControlPlaneBrokerOptions,
  type ControlPlaneRole,
  type CreateControlPlaneOptions,
  createControlPlane,
} from './control-plane.js';
// Datastores: the catalog of datastores and versions, and the overrides a user may set.
export * from './datastore/index.js';
export { type EmbeddedControlPlane, type StartEmbeddedOptions, startEmbeddedControlPlane } from './embedded.js';
export { EndpointPortInUseError, EndpointsRecordError } from './embedded-endpoints.js';
// Enrolment: guests that make their own key and trade a one-time token and a CSR for a certificate.
export * from './enrolment/index.js';
export { decodeAgentUserData } from './guest/agent-user-data.js';
// Calling a guest agent from the control plane; reading an agent's seed out of cloud-init user-data.
export { GuestApi } from './guest/api.js';
// Instances: the in-process API (create, list, watch, delete, actions), its records and views.
export {
  type InstanceChangedEvent,
  type ServiceStatusEvent,
  type StatusEvent,
  StatusEventBus,
  type StatusEventStreamOptions,
} from './instance/events.js';
export {
  type DatastoreRef,
  DatastoreRefSchema,
  type Instance,
  type InstanceFault,
  InstanceFaultSchema,
  InstanceSchema,
} from './instance/models.js';
export {
  type CreateInstanceRequest,
  CreateInstanceRequestSchema,
  InstanceBusyError,
  InstanceNotFoundError,
  InstanceService,
  type InstanceServiceOptions,
  type InstanceStatusChange,
  type ListInstancesQuery,
  ListInstancesQuerySchema,
} from './instance/service.js';
export { type InstanceView, instanceView } from './instance/views.js';
// Brokers: the embedded aedes broker and a managed mosquitto (the MQTT client side is @corral/core/messaging).
export {
  type BrokerAuthorizer,
  type BrokerHandle,
  defaultAuthorizer,
  type RevocationSource,
  type StartBrokerOptions,
  startBroker,
} from './messaging/broker.js';
export { type ConnectionLimits, DEFAULT_CONNECTION_LIMITS } from './messaging/connection-guard.js';
export { type MosquittoHandle, type StartMosquittoOptions, startMosquitto } from './messaging/mosquitto.js';
// The certificate authority a control plane keeps (the rest of the PKI is @corral/core/pki).
export { type CertificateAuthority, type CreateCaOptions, createCa, loadCa, loadOrCreateCa } from './pki/ca.js';
// Stores: memory (tests), SQLite (embedded default), PostgreSQL (several processes); one interface.
export * from './store/index.js';
// Task manager and its durable tasks.
export { TaskManagerApi } from './taskmanager/api.js';
export { type TaskHooks, TaskManager, type TaskManagerOptions } from './taskmanager/manager.js';
export { type Task, type TaskError, TaskKind, TaskState, taskKinds, taskStates } from './taskmanager/models.js';
// Server watcher: keeps each instance's server status true after its task.
export { ServerWatcherOptionsSchema, type ServerWatcherSettings, type ServerWatcherTuning } from './watcher/options.js';
export { ServerWatcher, type ServerWatcherMetrics, type ServerWatcherOptions } from './watcher/watcher.js';
