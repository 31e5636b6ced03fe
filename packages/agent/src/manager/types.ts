import type { AgentConfig, ServiceStatus } from '@corral/core/contract';
import type { Logger } from '../log.js';

/** The service statuses the agent reports: a subset of core's `ServiceStatus` vocabulary. */
export type AgentServiceStatus = Extract<
  ServiceStatus,
  'INSTANCE_READY' | 'BUILDING' | 'HEALTHY' | 'RUNNING' | 'RESTARTING' | 'SHUTDOWN' | 'CRASHED' | 'FAILED'
>;

export interface StatusReport {
  status: AgentServiceStatus;
  /** Why, for FAILED and CRASHED: a message safe to show an operator (no secrets). */
  detail?: string;
}

/** What a datastore's live check found: answering, up but not answering (yet), or not running at all. */
export type Health = 'healthy' | 'starting' | 'down';

export interface ManagerContext {
  /** The manager's own directory, `<stateDir>/<manager name>`, created for it (mode 0700 unless it widens it). */
  dir: string;
  /** The agent's state directory. */
  stateDir: string;
  datastore: AgentConfig['datastore'];
  logger: Logger;
  /** Tell the agent the status changed, so it sends a heartbeat now instead of at the next tick. */
  statusChanged(): void;
}

export interface DatabaseSpec {
  name: string;
  characterSet?: string;
  collate?: string;
}

export interface UserSpec {
  name: string;
  password: string;
  host?: string;
  databases?: Array<{ name: string }>;
}

export interface UserInfo {
  name: string;
  host?: string;
  databases: Array<{ name: string }>;
}

export interface PrepareRequest {
  databases?: DatabaseSpec[];
  users?: UserSpec[];
  rootPassword?: string;
  /** Manager-specific configuration settings (name → value). */
  overrides?: Record<string, unknown>;
}

/**
 * A datastore manager as the agent drives it (Trove's guestagent `Manager`). Implementations extend
 * `BaseManager`, which owns the prepare flow, the persisted lifecycle and the status mapping.
 */
export interface DatastoreManager {
  readonly name: string;
  /** Loads persisted state; restarts a prepared datastore that should run (a guest reboot). */
  init(): Promise<void>;
  prepare(request: PrepareRequest): Promise<StatusReport>;
  start(): Promise<StatusReport>;
  /** `doNotStartOnReboot`: stay stopped after a reboot too (otherwise the next boot starts it again). */
  stop(options?: { doNotStartOnReboot?: boolean }): Promise<StatusReport>;
  restart(): Promise<StatusReport>;
  status(): Promise<StatusReport>;
  listDatabases(): Promise<Array<{ name: string }>>;
  createDatabases(databases: DatabaseSpec[]): Promise<void>;
  deleteDatabase(name: string): Promise<void>;
  listUsers(): Promise<UserInfo[]>;
  createUsers(users: UserSpec[]): Promise<void>;
  deleteUser(name: string): Promise<void>;
  enableRoot(password?: string): Promise<{ name: string; password: string }>;
  disableRoot(): Promise<void>;
  /** Has root ever been enabled (Trove's semantics: true even after disable_root)? */
  isRootEnabled(): Promise<boolean>;
  /** Writes configuration overrides (or removes them, by name) to the datastore's configuration: effective after a restart. */
  updateOverrides(overrides: Record<string, string | number | boolean>, remove: boolean): Promise<void>;
  /** Applies overrides to the running datastore where it allows that without a restart. */
  applyOverrides(overrides: Record<string, string | number | boolean>): Promise<void>;
  /** Stops watching (timers, sockets) without stopping the datastore: the agent is exiting. */
  close(): Promise<void>;
}

export type ManagerFactory = (context: ManagerContext) => DatastoreManager | Promise<DatastoreManager>;
