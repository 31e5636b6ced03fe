import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AgentError } from './errors.js';
import type { DatastoreManager, ManagerContext, ManagerFactory } from './manager/types.js';

/**
 * Manager name → factory, as Trove's guestagent/dbaas.py maps `datastore_manager` to a Manager class:
 * built-in defaults, plus `registerDatastore` from code and modules named in the config (`managers`), which
 * override both. A config-named module is an ESM file whose default export (or `createManager`) is a factory.
 */
// Loaded when asked for: a guest runs one datastore, and each manager's code (pg for PostgreSQL) costs memory.
const defaults: ReadonlyMap<string, ManagerFactory> = new Map<string, ManagerFactory>([
  ['redis', async (context) => (await import('./managers/redis/manager.js')).createRedisManager(context)],
  ['postgresql', async (context) => (await import('./managers/postgresql/manager.js')).createPostgresManager(context)],
]);

const registered = new Map<string, ManagerFactory>();

export function registerDatastore(name: string, factory: ManagerFactory): void {
  if (!/^[a-z][a-z0-9_-]*$/.test(name)) {
    throw new AgentError('BAD_REQUEST', `datastore name: must be lower-case letters, digits, _ or - (got "${name}")`);
  }
  registered.set(name, factory);
}

/** Drops registrations made with `registerDatastore` (tests). */
export function clearRegisteredDatastores(): void {
  registered.clear();
}

/** Every name a manager can be had for, with where it comes from. */
export function datastoreManagers(configured: Record<string, string> = {}): Record<string, string> {
  const names: Record<string, string> = {};
  for (const name of defaults.keys()) names[name] = 'default';
  for (const name of registered.keys()) names[name] = 'registered';
  for (const [name, modulePath] of Object.entries(configured)) names[name] = modulePath;
  return names;
}

async function loadModuleFactory(name: string, modulePath: string): Promise<ManagerFactory> {
  const url =
    isAbsolute(modulePath) || modulePath.startsWith('.') ? pathToFileURL(resolve(modulePath)).href : modulePath;
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw new AgentError(
      'MANAGER_LOAD_FAILED',
      `managers.${name}: cannot load ${modulePath} (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  const factory = loaded.createManager ?? loaded.default;
  if (typeof factory !== 'function') {
    throw new AgentError(
      'MANAGER_LOAD_FAILED',
      `managers.${name}: ${modulePath} exports no createManager or default function`,
    );
  }
  return factory as ManagerFactory;
}

/** The factory for a manager name: config-named module, then registered, then default. */
export async function resolveManagerFactory(
  name: string,
  configured: Record<string, string> = {},
): Promise<ManagerFactory> {
  const modulePath = configured[name];
  if (modulePath !== undefined) return loadModuleFactory(name, modulePath);
  const factory = registered.get(name) ?? defaults.get(name);
  if (!factory) {
    throw new AgentError(
      'UNKNOWN_MANAGER',
      `datastore.manager: unknown manager "${name}" (known: ${Object.keys(datastoreManagers(configured)).sort().join(', ')})`,
    );
  }
  return factory;
}

export async function createManager(
  name: string,
  context: ManagerContext,
  configured: Record<string, string> = {},
): Promise<DatastoreManager> {
  const factory = await resolveManagerFactory(name, configured);
  return factory(context);
}
