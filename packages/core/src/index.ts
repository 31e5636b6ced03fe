export * from './provider/index.js';
export * from './guest/agent-config.js';
export * from './errors/index.js';
export * from './status/index.js';
export * from './instance/models.js';
export * from './taskmanager/models.js';
export * from './store/index.js';
