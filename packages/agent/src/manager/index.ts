export { BaseManager, errorText } from './base.js';
export type * from './types.js';
