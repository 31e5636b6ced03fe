export * from './common.js';
export * from './create.js';
export * from './delete.js';
export * from './deps.js';
export * from './flow.js';
export * from './ports.js';
export * from './reboot.js';
export * from './resize.js';
export * from './restart.js';
export * from './update-configuration.js';
export * from './waits.js';

import { createFlow } from './create.js';
import { deleteFlow } from './delete.js';
import { rebootFlow } from './reboot.js';
import { resizeFlow } from './resize.js';
import { restartFlow } from './restart.js';
import { updateConfigurationFlow } from './update-configuration.js';

export const allFlows = [createFlow, deleteFlow, rebootFlow, resizeFlow, restartFlow, updateConfigurationFlow] as const;
export * from './store-adapters.js';
