export * from './provider/index.js';
export * from './guest/agent-config.js';
