export { envHasConfig, overlayEnv } from './env.js';
export { type LoadedConfig, type LoadOptions, loadAgentConfig } from './load.js';
export { DEFAULT_SEED_DIRS, mountSeedDevice, parseBlkid, readSeedUserData, userDataPath } from './seed.js';
