export { Agent, type AgentOptions } from './agent.js';
export * from './config/index.js';
export { AgentError, type AgentErrorCode, errorPayload } from './errors.js';
export { heartbeatArgs } from './heartbeat.js';
export { type AgentIdentity, checkCertificate, forgetIdentity, resolveIdentity } from './identity.js';
export * from './journal/index.js';
export { createLogger, type Logger } from './log.js';
export * from './manager/index.js';
export * from './managers/postgresql/index.js';
export * from './managers/redis/index.js';
export * from './process/index.js';
export {
  clearRegisteredDatastores,
  createManager,
  datastoreManagers,
  registerDatastore,
  resolveManagerFactory,
} from './registry.js';
export { Dispatcher, type DispatcherDeps, type Notify } from './rpc/dispatcher.js';
export { isJournaled, READ_ONLY_METHODS } from './rpc/methods.js';
export { pageByName } from './rpc/paging.js';
export { VERSION } from './version.js';
export * from './volume/index.js';
