/** Replaced at bundle time by tsup's `define`; the source fallback is for tests run from source. */
declare const __CORRAL_AGENT_VERSION__: string | undefined;
export const VERSION: string = typeof __CORRAL_AGENT_VERSION__ === 'string' ? __CORRAL_AGENT_VERSION__ : '0.1.0-dev';
