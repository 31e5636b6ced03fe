import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { AgentError } from '../errors.js';
import type {
  DatabaseSpec,
  DatastoreManager,
  Health,
  ManagerContext,
  PrepareRequest,
  StatusReport,
  UserInfo,
  UserSpec,
} from './types.js';

const LifecycleSchema = z.object({
  phase: z.enum(['new', 'building', 'prepared', 'failed']),
  /** What the operator asked for last: a datastore that is down while `running` is wanted has crashed. */
  desired: z.enum(['running', 'stopped']),
  /**
   * A stop that says nothing about reboots (Trove's stop_db with do_not_start_on_reboot false, as the reboot
   * flow sends it) still starts the datastore at the next boot: its data lives on the volume, the guest comes back.
   */
  startOnBoot: z.boolean().optional(),
  /** The kernel's boot id when it was stopped: an agent restart in the same boot leaves it stopped. */
  stoppedInBoot: z.string().optional(),
  error: z.string().optional(),
});
type Lifecycle = z.infer<typeof LifecycleSchema>;

/**
 * The lifecycle every manager shares (Trove's `Manager.prepare` + `BaseDbStatus`): prepare runs once as
 * begin install → do prepare → end install; the phase and the wanted state are persisted in the manager's
 * directory, so an agent restart knows a prepared datastore from a prepare cut off by a crash (→ FAILED).
 * Subclasses implement the datastore-specific steps and a live health check.
 */
export abstract class BaseManager implements DatastoreManager {
  abstract readonly name: string;
  private lifecycle: Lifecycle = { phase: 'new', desired: 'running' };
  private restarting = false;
  private readonly lifecyclePath: string;

  constructor(protected readonly context: ManagerContext) {
    this.lifecyclePath = join(context.dir, 'lifecycle.json');
  }

  /** Creates config and data, starts the datastore and waits until it answers. Throws on failure. */
  protected abstract doPrepare(request: PrepareRequest): Promise<void>;
  protected abstract startDatastore(): Promise<void>;
  protected abstract stopDatastore(): Promise<void>;
  protected abstract checkHealth(): Promise<Health>;

  async init(): Promise<void> {
    mkdirSync(this.context.dir, { recursive: true, mode: 0o700 });
    try {
      this.lifecycle = LifecycleSchema.parse(JSON.parse(readFileSync(this.lifecyclePath, 'utf8')));
    } catch {
      this.lifecycle = { phase: 'new', desired: 'running' };
    }
    if (this.lifecycle.phase === 'building') {
      // The agent died mid-prepare. It does not run that prepare again on its own (it no longer has the request,
      // which carries passwords, and half-applying it twice is worse than asking); it reports FAILED, and the
      // control plane, which saw the new boot, sends a new prepare (a manager's doPrepare starts from nothing).
      this.save({ ...this.lifecycle, phase: 'failed', error: 'prepare was interrupted by an agent restart' });
    }
    const { phase, desired, startOnBoot, stoppedInBoot } = this.lifecycle;
    if (phase === 'prepared' && desired === 'stopped' && startOnBoot && stoppedInBoot !== kernelBootId()) {
      this.save({ phase: 'prepared', desired: 'running' });
    }
    if (this.lifecycle.phase === 'prepared' && this.lifecycle.desired === 'running') {
      if ((await this.checkHealth()) === 'down') {
        this.context.logger.info({ manager: this.name }, 'datastore prepared but not running: starting it');
        await this.startDatastore().catch((error: unknown) => {
          this.context.logger.error({ manager: this.name, err: errorText(error) }, 'datastore did not start');
        });
      }
    }
  }

  get phase(): Lifecycle['phase'] {
    return this.lifecycle.phase;
  }

  async prepare(request: PrepareRequest): Promise<StatusReport> {
    if (this.lifecycle.phase === 'building') throw new AgentError('ALREADY_PREPARED', 'prepare is already running');
    if (this.lifecycle.phase === 'prepared') {
      throw new AgentError('ALREADY_PREPARED', `the ${this.name} datastore is already prepared`);
    }
    this.save({ phase: 'building', desired: 'running' });
    this.context.statusChanged();
    try {
      await this.doPrepare(request);
      this.save({ phase: 'prepared', desired: 'running' });
    } catch (error) {
      this.save({ phase: 'failed', desired: 'running', error: errorText(error) });
      this.context.statusChanged();
      throw error instanceof AgentError
        ? error
        : new AgentError('DATASTORE_FAILED', errorText(error), { cause: error });
    }
    this.context.statusChanged();
    return this.status();
  }

  async start(): Promise<StatusReport> {
    this.requirePrepared();
    this.save({ phase: this.lifecycle.phase, desired: 'running' });
    await this.startDatastore();
    this.context.statusChanged();
    return this.status();
  }

  async stop(options: { doNotStartOnReboot?: boolean } = {}): Promise<StatusReport> {
    this.requirePrepared();
    // Saved first, so the exit the probe sees next is a SHUTDOWN and not a crash.
    const bootId = kernelBootId();
    this.save({
      phase: this.lifecycle.phase,
      desired: 'stopped',
      startOnBoot: options.doNotStartOnReboot !== true && bootId !== undefined,
      ...(bootId !== undefined ? { stoppedInBoot: bootId } : {}),
    });
    await this.stopDatastore();
    this.context.statusChanged();
    return this.status();
  }

  async restart(): Promise<StatusReport> {
    this.requirePrepared();
    this.restarting = true;
    this.context.statusChanged();
    try {
      this.save({ phase: this.lifecycle.phase, desired: 'running' });
      await this.stopDatastore();
      await this.startDatastore();
    } finally {
      this.restarting = false;
    }
    this.context.statusChanged();
    return this.status();
  }

  async status(): Promise<StatusReport> {
    switch (this.lifecycle.phase) {
      case 'new':
        return { status: 'INSTANCE_READY' };
      case 'building':
        return { status: 'BUILDING' };
      case 'failed':
        return { status: 'FAILED', detail: this.lifecycle.error ?? 'prepare failed' };
    }
    if (this.restarting) return { status: 'RESTARTING' };
    let health: Health;
    try {
      health = await this.checkHealth();
    } catch (error) {
      return { status: 'RUNNING', detail: `health check failed: ${errorText(error)}` };
    }
    if (health === 'healthy') return { status: 'HEALTHY' };
    if (health === 'starting') return { status: 'RUNNING', detail: 'process up, not answering yet' };
    return this.lifecycle.desired === 'stopped'
      ? { status: 'SHUTDOWN' }
      : { status: 'CRASHED', detail: `${this.name} exited unexpectedly` };
  }

  async listDatabases(): Promise<Array<{ name: string }>> {
    return this.unsupported('list_databases');
  }
  async createDatabases(_databases: DatabaseSpec[]): Promise<void> {
    return this.unsupported('create_database');
  }
  async deleteDatabase(_name: string): Promise<void> {
    return this.unsupported('delete_database');
  }
  async listUsers(): Promise<UserInfo[]> {
    return this.unsupported('list_users');
  }
  async createUsers(_users: UserSpec[]): Promise<void> {
    return this.unsupported('create_user');
  }
  async deleteUser(_name: string): Promise<void> {
    return this.unsupported('delete_user');
  }
  async enableRoot(_password?: string): Promise<{ name: string; password: string }> {
    return this.unsupported('enable_root');
  }
  async updateOverrides(_overrides: Record<string, string | number | boolean>, _remove: boolean): Promise<void> {
    return this.unsupported('update_overrides');
  }
  async applyOverrides(_overrides: Record<string, string | number | boolean>): Promise<void> {
    return this.unsupported('apply_overrides');
  }
  async disableRoot(): Promise<void> {
    return this.unsupported('disable_root');
  }
  async isRootEnabled(): Promise<boolean> {
    return this.unsupported('is_root_enabled');
  }

  async close(): Promise<void> {}

  /** For datastore operations: they need a prepared datastore. */
  protected requirePrepared(): void {
    if (this.lifecycle.phase !== 'prepared') {
      throw new AgentError(
        'NOT_PREPARED',
        `the ${this.name} datastore is not prepared (phase ${this.lifecycle.phase})`,
      );
    }
  }

  private unsupported(method: string): never {
    throw new AgentError('UNSUPPORTED', `${method} is not supported by the ${this.name} manager`);
  }

  private save(lifecycle: Lifecycle): void {
    this.lifecycle = lifecycle;
    const tmp = `${this.lifecyclePath}.tmp`;
    writeFileSync(tmp, JSON.stringify(lifecycle), { mode: 0o600 });
    renameSync(tmp, this.lifecyclePath);
  }
}

/** Linux's id of the running boot; undefined where there is none (then a stop holds across restarts). */
function kernelBootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
