import { statfs } from 'node:fs/promises';
import { type GuestMethodName, guestMethods, type ParsedGuestMethodArgs } from '@corral/core/contract';
import { AgentError, errorPayload } from '../errors.js';
import type { Journal, Outcome } from '../journal/journal.js';
import type { Logger } from '../log.js';
import type { DatastoreManager, StatusReport } from '../manager/types.js';
import type { DataVolume } from '../volume/volume.js';
import { isJournaled } from './methods.js';
import { pageByName } from './paging.js';

/** Casts to the conductor topic (status_report, notify_end, notify_error); never throws. */
export type Notify = (method: 'status_report' | 'notify_end' | 'notify_error', args: Record<string, unknown>) => void;

export interface DispatcherDeps {
  journal: Journal;
  /** Undefined when the configured manager could not be created; `managerError` says why. */
  manager: DatastoreManager | undefined;
  managerError?: AgentError;
  /** The configured manager name: a prepare for another datastore is refused. */
  managerName: string;
  instanceId: string;
  stateDir: string;
  logger: Logger;
  notify: Notify;
  /** The data volume (mounted where the manager keeps its data once prepare found it). */
  volume?: DataVolume;
}

/** Service statuses of a datastore that was prepared already (on a volume found again). */
const PREPARED_STATUSES = new Set(['HEALTHY', 'RUNNING', 'RESTARTING', 'SHUTDOWN', 'CRASHED']);

/**
 * Runs the guest contract's methods against the manager. Methods that change something go through the
 * idempotency journal: a request id already done returns its stored outcome; one started by an earlier agent
 * run that died is reported as interrupted (never run twice); one running now is awaited, not started again.
 * Casts have no reply, so their outcome goes to the conductor (notify_end / notify_error, and for prepare a
 * status_report), again on a redelivery, since the first notification may be what got lost.
 */
export class Dispatcher {
  private readonly inflight = new Map<string, Promise<Outcome>>();
  /** Journaled requests from their `started` line to their `done` line: what `settle` waits for. */
  private readonly journaling = new Set<Promise<unknown>>();
  /** Why the data volume could not be used: the service is FAILED with it until a prepare succeeds. */
  private volumeError: string | undefined;

  constructor(private readonly deps: DispatcherDeps) {}

  async dispatch(method: GuestMethodName, args: Record<string, unknown>, messageId: string): Promise<unknown> {
    const requestId = typeof args.requestId === 'string' ? args.requestId : messageId;
    if (!isJournaled(method)) return this.run(method, args);
    const logger = this.deps.logger.child({ method, requestId });
    const { journal } = this.deps;
    const running = this.inflight.get(requestId);
    const entry = journal.get(requestId);
    let outcome: Outcome;
    if (running) {
      logger.info('duplicate of a request in progress: waiting for it');
      outcome = await running;
    } else if (entry?.state === 'done' && entry.outcome) {
      logger.info('duplicate of a finished request: returning its stored outcome');
      outcome = entry.outcome;
      await this.afterCast(method, requestId, outcome);
    } else if (entry && journal.isInterrupted(entry)) {
      logger.warn('request was in progress when the agent stopped; not running it again');
      outcome = {
        ok: false,
        error: {
          code: 'REQUEST_INTERRUPTED',
          message: `${entry.method} ${requestId} was in progress when the agent stopped (${entry.at}); it is not run again`,
        },
      };
      await this.afterCast(method, requestId, outcome);
    } else {
      journal.begin(requestId, method);
      const work = this.run(method, args).then(
        (result): Outcome => ({ ok: true, result: result ?? null }),
        (error: unknown): Outcome => ({ ok: false, error: errorPayload(error) }),
      );
      this.inflight.set(requestId, work);
      const journaled = work.then((done) => journal.finish(requestId, method, done));
      this.journaling.add(journaled);
      try {
        outcome = await work;
        await journaled;
      } finally {
        this.inflight.delete(requestId);
        this.journaling.delete(journaled);
      }
      if (outcome.ok) logger.info('done');
      else logger.warn({ code: outcome.error.code, error: outcome.error.message }, 'failed');
      await this.afterCast(method, requestId, outcome);
    }
    if (outcome.ok) return outcome.result;
    throw new AgentError(outcome.error.code as AgentError['code'], outcome.error.message);
  }

  /**
   * Waits (at most `timeoutMs`) for the journaled requests under way to record their outcome, so the agent can
   * close its journal after them: a cast such as `stop_db` may still be running when the agent is told to stop
   * (delete casts it and revokes at once).
   */
  async settle(timeoutMs: number): Promise<void> {
    if (this.journaling.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.journaling]), bound]);
    clearTimeout(timer);
  }

  /** The service status: the manager's probe, or FAILED naming why there is no manager. */
  async status(): Promise<StatusReport> {
    if (this.volumeError !== undefined) return { status: 'FAILED', detail: this.volumeError };
    if (!this.deps.manager) {
      return { status: 'FAILED', detail: this.deps.managerError?.message ?? 'no datastore manager' };
    }
    try {
      return await this.deps.manager.status();
    } catch (error) {
      return { status: 'FAILED', detail: `status probe failed: ${errorPayload(error).message}` };
    }
  }

  private async afterCast(method: GuestMethodName, requestId: string, outcome: Outcome): Promise<void> {
    if (guestMethods[method].kind !== 'cast') return;
    const { instanceId, notify } = this.deps;
    if (method === 'prepare') {
      const report = await this.status();
      const message = outcome.ok ? report.detail : outcome.error.message;
      notify('status_report', {
        instanceId,
        serviceStatus: outcome.ok ? report.status : 'FAILED',
        requestId,
        ...(message !== undefined ? { message } : {}),
      });
    }
    if (outcome.ok) notify('notify_end', { instanceId, requestId, method });
    else notify('notify_error', { instanceId, requestId, method, error: outcome.error });
  }

  /**
   * Mounts the data volume where the manager keeps its data, before prepare writes anything. A volume that
   * already holds this instance's prepared datastore (a prepare sent again after a reboot, a rebuild) is
   * started as it is, never prepared over: 'prepared'.
   */
  private async attachVolume(
    spec: NonNullable<ParsedGuestMethodArgs<'prepare'>['volume']>,
  ): Promise<'prepared' | 'new'> {
    const volume = this.deps.volume;
    if (volume === undefined) throw new AgentError('VOLUME_MISSING', 'this agent has no data volume support');
    let how: 'formatted' | 'reused';
    try {
      how = await volume.attach(spec);
      this.volumeError = undefined;
    } catch (error) {
      this.volumeError = errorPayload(error).message;
      throw error;
    }
    if (how === 'formatted') return 'new';
    const manager = this.manager();
    await manager.init();
    const report = await manager.status();
    if (!PREPARED_STATUSES.has(report.status)) return 'new';
    this.deps.logger.info(
      { status: report.status },
      'the data volume holds a prepared datastore: started, not prepared again',
    );
    return 'prepared';
  }

  private manager(): DatastoreManager {
    if (this.deps.manager) return this.deps.manager;
    throw this.deps.managerError ?? new AgentError('UNKNOWN_MANAGER', 'no datastore manager');
  }

  private async run(method: GuestMethodName, raw: Record<string, unknown>): Promise<unknown> {
    switch (method) {
      case 'rpc_ping':
        return true;
      case 'get_filesystem_stats': {
        const args = raw as ParsedGuestMethodArgs<'get_filesystem_stats'>;
        const volumeStats = args.fsPath === undefined ? await this.deps.volume?.stats() : undefined;
        if (volumeStats !== undefined) return volumeStats;
        const mountPoint = args.fsPath ?? this.deps.stateDir;
        const stats = await statfs(mountPoint);
        const totalBytes = stats.blocks * stats.bsize;
        return {
          mountPoint,
          totalBytes,
          freeBytes: stats.bavail * stats.bsize,
          usedBytes: totalBytes - stats.bfree * stats.bsize,
        };
      }
      case 'prepare': {
        const args = raw as ParsedGuestMethodArgs<'prepare'>;
        if (args.datastore.manager !== this.deps.managerName) {
          throw new AgentError(
            'BAD_REQUEST',
            `datastore.manager: prepare asks for "${args.datastore.manager}" but this agent runs "${this.deps.managerName}"`,
          );
        }
        const volume = args.volume ?? null;
        if (volume !== null && (await this.attachVolume(volume)) === 'prepared') return null;
        await this.manager().prepare({
          databases: args.databases,
          users: args.users.map((user) => ({ ...user })),
          ...(args.rootPassword !== null ? { rootPassword: args.rootPassword } : {}),
          overrides: args.overrides,
        });
        return null;
      }
      case 'resize_fs': {
        const volume = this.deps.volume;
        if (volume === undefined || !volume.mounted)
          throw new AgentError('VOLUME_MISSING', 'no data volume is mounted');
        return volume.grow((raw as ParsedGuestMethodArgs<'resize_fs'>).volume);
      }
      case 'restart':
        await this.manager().restart();
        return null;
      case 'stop_db':
        await this.manager().stop({
          doNotStartOnReboot: (raw as ParsedGuestMethodArgs<'stop_db'>).doNotStartOnReboot === true,
        });
        return null;
      case 'start_db':
        await this.manager().start();
        return null;
      case 'list_databases': {
        const args = raw as ParsedGuestMethodArgs<'list_databases'>;
        const page = pageByName(await this.manager().listDatabases(), args.limit, args.marker);
        return { databases: page.items, nextMarker: page.nextMarker };
      }
      case 'create_database':
        await this.manager().createDatabases((raw as ParsedGuestMethodArgs<'create_database'>).databases);
        return null;
      case 'delete_database':
        await this.manager().deleteDatabase((raw as ParsedGuestMethodArgs<'delete_database'>).database.name);
        return null;
      case 'list_users': {
        const args = raw as ParsedGuestMethodArgs<'list_users'>;
        const users = (await this.manager().listUsers()).map((user) => ({
          name: user.name,
          host: user.host ?? '%',
          databases: user.databases.map((database) => database.name),
        }));
        const page = pageByName(users, args.limit, args.marker);
        return { users: page.items, nextMarker: page.nextMarker };
      }
      case 'create_user':
        await this.manager().createUsers((raw as ParsedGuestMethodArgs<'create_user'>).users);
        return null;
      case 'delete_user':
        await this.manager().deleteUser((raw as ParsedGuestMethodArgs<'delete_user'>).user.name);
        return null;
      case 'enable_root':
        return this.manager().enableRoot((raw as ParsedGuestMethodArgs<'enable_root'>).password);
      case 'disable_root':
        await this.manager().disableRoot();
        return null;
      case 'is_root_enabled':
        return this.manager().isRootEnabled();
      case 'update_overrides': {
        const args = raw as ParsedGuestMethodArgs<'update_overrides'>;
        await this.manager().updateOverrides(args.overrides, args.remove);
        return null;
      }
      case 'apply_overrides':
        await this.manager().applyOverrides((raw as ParsedGuestMethodArgs<'apply_overrides'>).overrides);
        return null;
      case 'start_db_with_conf_changes':
      case 'create_backup':
        throw new AgentError('UNSUPPORTED', `${method} is not implemented by corral-agent yet`);
    }
  }
}
