import { statfs } from 'node:fs/promises';
import { AgentError, errorPayload } from '../errors.js';
import type { Journal, Outcome } from '../journal/journal.js';
import type { Logger } from '../log.js';
import type { DatastoreManager, StatusReport } from '../manager/types.js';
import { type AgentMethod, agentMethods, type PrepareArgs } from './methods.js';

export interface DispatcherDeps {
  journal: Journal;
  /** Undefined when the configured manager could not be created; `managerError` says why. */
  manager: DatastoreManager | undefined;
  managerError?: AgentError;
  stateDir: string;
  guestId: string;
  bootId: string;
  logger: Logger;
}

/**
 * Runs RPC methods against the manager, through the idempotency journal for those that change something: a
 * request id already done returns its stored outcome; one started by an earlier run that died is reported as
 * interrupted (never run twice); one running now is awaited, not started again.
 */
export class Dispatcher {
  private readonly inflight = new Map<string, Promise<Outcome>>();

  constructor(private readonly deps: DispatcherDeps) {}

  async dispatch(method: AgentMethod, args: Record<string, unknown>, messageId: string): Promise<unknown> {
    const requestId = typeof args.requestId === 'string' ? args.requestId : messageId;
    const logger = this.deps.logger.child({ method, requestId });
    if (!agentMethods[method].journaled) return this.run(method, args);

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
    } else if (entry && journal.isInterrupted(entry)) {
      logger.warn('request was in progress when the agent stopped; not running it again');
      outcome = {
        ok: false,
        error: {
          code: 'REQUEST_INTERRUPTED',
          message: `${entry.method} ${requestId} was in progress when the agent stopped (${entry.at}); it is not run again`,
        },
      };
    } else {
      journal.begin(requestId, method);
      const work = this.run(method, args).then(
        (result): Outcome => ({ ok: true, result: result ?? null }),
        (error: unknown): Outcome => ({ ok: false, error: errorPayload(error) }),
      );
      this.inflight.set(requestId, work);
      try {
        outcome = await work;
        journal.finish(requestId, method, outcome);
      } finally {
        this.inflight.delete(requestId);
      }
      if (outcome.ok) logger.info('done');
      else logger.warn({ code: outcome.error.code, error: outcome.error.message }, 'failed');
    }
    if (outcome.ok) return outcome.result;
    throw new AgentError(outcome.error.code as AgentError['code'], outcome.error.message);
  }

  private manager(): DatastoreManager {
    if (this.deps.manager) return this.deps.manager;
    throw this.deps.managerError ?? new AgentError('UNKNOWN_MANAGER', 'no datastore manager');
  }

  private async run(method: AgentMethod, args: Record<string, unknown>): Promise<unknown> {
    switch (method) {
      case 'rpc_ping':
        return { pong: true, guestId: this.deps.guestId, bootId: this.deps.bootId };
      case 'get_status':
        return this.status();
      case 'get_filesystem_stats': {
        const stats = await statfs(typeof args.fsPath === 'string' ? args.fsPath : this.deps.stateDir);
        const total = stats.blocks * stats.bsize;
        const free = stats.bavail * stats.bsize;
        return {
          blockSize: stats.bsize,
          totalBytes: total,
          freeBytes: free,
          usedBytes: total - stats.bfree * stats.bsize,
        };
      }
      case 'prepare': {
        const request = args as PrepareArgs;
        return this.manager().prepare({
          ...(request.databases ? { databases: request.databases } : {}),
          ...(request.users ? { users: request.users } : {}),
          ...(request.rootPassword !== undefined ? { rootPassword: request.rootPassword } : {}),
          ...(request.overrides ? { overrides: request.overrides } : {}),
        });
      }
      case 'restart':
        return this.manager().restart();
      case 'stop_db':
        return this.manager().stop();
      case 'start_db':
        return this.manager().start();
      case 'list_databases':
        return { databases: await this.manager().listDatabases() };
      case 'create_database':
        await this.manager().createDatabases(args.databases as Parameters<DatastoreManager['createDatabases']>[0]);
        return {};
      case 'delete_database':
        await this.manager().deleteDatabase(args.name as string);
        return {};
      case 'list_users':
        return { users: await this.manager().listUsers() };
      case 'create_user':
        await this.manager().createUsers(args.users as Parameters<DatastoreManager['createUsers']>[0]);
        return {};
      case 'delete_user':
        await this.manager().deleteUser(args.name as string);
        return {};
      case 'enable_root':
        return this.manager().enableRoot(typeof args.password === 'string' ? args.password : undefined);
      case 'is_root_enabled':
        return { enabled: await this.manager().isRootEnabled() };
    }
  }

  /** The service status: the manager's probe, or FAILED naming why there is no manager. */
  async status(): Promise<StatusReport> {
    if (!this.deps.manager) {
      return { status: 'FAILED', detail: this.deps.managerError?.message ?? 'no datastore manager' };
    }
    try {
      return await this.deps.manager.status();
    } catch (error) {
      return { status: 'FAILED', detail: `status probe failed: ${errorPayload(error).message}` };
    }
  }
}
