export { type ExitListener, isPidAlive, type SupervisedOptions, SupervisedProcess } from './supervised.js';
export { lookupUser } from './users.js';
