/**
 * The slice of pino's logger this package uses. Pass a pino logger (or a child carrying instance/task ids);
 * the default is silent. Secrets (passwords, tokens, user-data) are never passed to it.
 */
export interface Logger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
}

const noop = () => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop };
