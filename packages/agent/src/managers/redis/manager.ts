import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentError } from '../../errors.js';
import { BaseManager } from '../../manager/base.js';
import type { DatabaseSpec, Health, ManagerContext, PrepareRequest, UserInfo, UserSpec } from '../../manager/types.js';
import { SupervisedProcess } from '../../process/supervised.js';
import { checkName, findBinary, generatePassword, parseManagerOptions, tailFile, waitHealthy } from '../common.js';
import { checkRedisOverride, type RedisOptions, RedisOptionsSchema, renderAclFile, renderRedisConf } from './config.js';
import { RespError, type RespValue, withRedis } from './resp.js';

const ROOT_USER = 'root';
/** Rights of users made through create_user: everything but server administration (ACL, CONFIG, SHUTDOWN...). */
const USER_RULES = ['~*', '&*', '+@all', '-@admin'];

/**
 * Redis: its own redis.conf, ACL file and data dir under `<stateDir>/redis`, a redis-server the agent starts
 * detached and supervises, users through ACL SETUSER/LIST/DELUSER (persisted with ACL SAVE), health by
 * AUTH + PING over the tiny RESP client.
 *
 * Databases: Redis has numbered databases (`databases`, 16 by default, chosen with SELECT), never named ones,
 * and the contract's database names must start with a letter. So list_databases is an empty list, databases
 * in prepare are ignored (with a warning, as Trove's redis manager does), create_database and delete_database
 * answer UNSUPPORTED.
 */
export class RedisManager extends BaseManager {
  readonly name = 'redis';
  private readonly options: RedisOptions;
  private readonly server: SupervisedProcess;
  private readonly port: number;
  private readonly bindAddress: string;

  constructor(context: ManagerContext) {
    super(context);
    this.options = parseManagerOptions(RedisOptionsSchema, context.datastore.options);
    this.port = context.datastore.port ?? 6379;
    this.bindAddress = context.datastore.bindAddress ?? '0.0.0.0';
    const binary = this.options.binary ?? findBinary('redis-server', ['/usr/bin', '/usr/local/bin']) ?? 'redis-server';
    this.server = new SupervisedProcess({
      command: binary,
      args: [this.path('redis.conf')],
      pidFile: this.path('redis.pid'),
      logFile: this.path('redis.log'),
      // Its config path until redis-server rewrites its title, then the port ("redis-server 0.0.0.0:6380"): a
      // server a killed agent was still starting is found, and stopped, by the prepare that runs again.
      cmdlineMatch: [this.path('redis.conf'), `:${this.port}`],
      cwd: context.dir,
    });
    this.server.onExit(({ code, signal }) => {
      context.logger.warn({ manager: this.name, code, signal }, 'redis-server exited');
      context.statusChanged();
    });
  }

  protected async doPrepare(request: PrepareRequest): Promise<void> {
    if (!findBinary('redis-server', ['/usr/bin', '/usr/local/bin']) && !this.options.binary) {
      throw new AgentError('DATASTORE_FAILED', 'redis-server is not installed in this guest');
    }
    // A failed earlier prepare may have left a server and files: start from nothing.
    await this.server.stop();
    rmSync(this.path('data'), { recursive: true, force: true });
    mkdirSync(this.path('data'), { recursive: true, mode: 0o700 });
    const adminPassword = generatePassword();
    writeFileSync(this.path('admin.json'), JSON.stringify({ password: adminPassword }), { mode: 0o600 });
    writeFileSync(this.path('users.acl'), renderAclFile(adminPassword), { mode: 0o600 });
    this.writeConfig(request.overrides ?? {});
    await this.startDatastore();
    if (request.users?.length) await this.setUsers(request.users);
    if (request.databases?.length) {
      // Trove's redis manager ignores them too; refusing would fail a whole instance over a no-op.
      this.context.logger.warn({ count: request.databases.length }, 'redis has no named databases: ignoring them');
    }
    if (request.rootPassword !== undefined) await this.setRoot(request.rootPassword);
  }

  protected async startDatastore(): Promise<void> {
    await this.server.start();
    await waitHealthy(
      'redis-server',
      () => this.checkHealth(),
      this.options.startTimeoutSeconds * 1000,
      () => tailFile(this.path('redis.log')),
    );
  }

  protected async stopDatastore(): Promise<void> {
    await this.server.stop('SIGTERM');
  }

  protected async checkHealth(): Promise<Health> {
    if (!this.server.isRunning()) return 'down';
    try {
      const reply = await this.admin((client) => client.command('PING'));
      return reply === 'PONG' ? 'healthy' : 'starting';
    } catch {
      // Refused while it binds, or -LOADING while it reads its dump: up, not answering yet.
      return 'starting';
    }
  }

  /** Redis has numbered databases, not named ones: there is nothing to list by name. */
  override async listDatabases(): Promise<Array<{ name: string }>> {
    this.requirePrepared();
    return [];
  }

  override async createDatabases(_databases: DatabaseSpec[]): Promise<void> {
    this.requirePrepared();
    throw new AgentError(
      'UNSUPPORTED',
      `redis has no named databases (it has numbered ones, 0..${this.options.databases - 1}, chosen with SELECT)`,
    );
  }

  override async listUsers(): Promise<UserInfo[]> {
    this.requirePrepared();
    const names = await this.admin((client) => client.command('ACL', 'USERS'));
    return strings(names)
      .filter((name) => name !== 'default' && name !== ROOT_USER)
      .map((name) => ({ name, databases: [] }));
  }

  override async createUsers(users: UserSpec[]): Promise<void> {
    this.requirePrepared();
    await this.setUsers(users);
  }

  override async deleteUser(name: string): Promise<void> {
    this.requirePrepared();
    checkName('user', name);
    if (name === 'default') throw new AgentError('BAD_REQUEST', 'user name: "default" is the agent\'s admin user');
    await this.admin(async (client) => {
      await client.command('ACL', 'DELUSER', name);
      await client.command('ACL', 'SAVE');
    });
  }

  override async enableRoot(password?: string): Promise<{ name: string; password: string }> {
    this.requirePrepared();
    const rootPassword = password ?? generatePassword();
    await this.setRoot(rootPassword);
    return { name: ROOT_USER, password: rootPassword };
  }

  override async disableRoot(): Promise<void> {
    this.requirePrepared();
    await this.admin(async (client) => {
      if ((await client.command('ACL', 'GETUSER', ROOT_USER)) === null) return;
      await client.command('ACL', 'SETUSER', ROOT_USER, 'off');
      await client.command('ACL', 'SAVE');
    });
  }

  /** True once root was enabled, also after disable_root (Trove's meaning: "has root ever been enabled"). */
  override async isRootEnabled(): Promise<boolean> {
    this.requirePrepared();
    const reply = await this.admin((client) => client.command('ACL', 'GETUSER', ROOT_USER));
    return reply !== null;
  }

  private async setUsers(users: UserSpec[]): Promise<void> {
    for (const user of users) {
      checkName('user', user.name);
      if (user.name === 'default' || user.name === ROOT_USER) {
        throw new AgentError('BAD_REQUEST', `user name: "${user.name}" is reserved`);
      }
      if (user.password.length === 0)
        throw new AgentError('BAD_REQUEST', `user ${user.name}: password must not be empty`);
    }
    await this.admin(async (client) => {
      for (const user of users) {
        await client.command('ACL', 'SETUSER', user.name, 'reset', 'on', `>${user.password}`, ...USER_RULES);
      }
      await client.command('ACL', 'SAVE');
    });
  }

  private async setRoot(password: string): Promise<void> {
    await this.admin(async (client) => {
      await client.command('ACL', 'SETUSER', ROOT_USER, 'reset', 'on', `>${password}`, '~*', '&*', '+@all');
      await client.command('ACL', 'SAVE');
    });
  }

  override async updateOverrides(overrides: Record<string, string | number | boolean>, remove: boolean): Promise<void> {
    this.requirePrepared();
    const current = this.storedOverrides();
    for (const [key, value] of Object.entries(overrides)) {
      if (remove) delete current[key];
      else current[key] = value;
    }
    this.writeConfig(current);
  }

  override async applyOverrides(overrides: Record<string, string | number | boolean>): Promise<void> {
    this.requirePrepared();
    const settings = Object.entries(overrides).map(([key, value]) => [key, checkRedisOverride(key, value)] as const);
    await this.admin(async (client) => {
      for (const [key, value] of settings) await client.command('CONFIG', 'SET', key, value);
    });
  }

  /** Renders redis.conf from the layout and the overrides, which are kept beside it for the next render. */
  private writeConfig(overrides: Record<string, unknown>): void {
    const text = renderRedisConf(
      {
        port: this.port,
        bindAddress: this.bindAddress,
        dataDir: this.path('data'),
        aclFile: this.path('users.acl'),
        databases: this.options.databases,
      },
      overrides,
    );
    writeFileSync(this.path('overrides.json'), JSON.stringify(overrides), { mode: 0o600 });
    writeFileSync(this.path('redis.conf'), text, { mode: 0o600 });
  }

  private storedOverrides(): Record<string, string | number | boolean> {
    try {
      return JSON.parse(readFileSync(this.path('overrides.json'), 'utf8')) as Record<string, string | number | boolean>;
    } catch {
      return {};
    }
  }

  private admin<T>(work: Parameters<typeof withRedis<T>>[1]): Promise<T> {
    return withRedis(
      { host: this.probeHost(), port: this.port, password: this.adminPassword(), timeoutMs: 2000 },
      work,
    );
  }

  private adminPassword(): string {
    if (!existsSync(this.path('admin.json')))
      throw new AgentError('NOT_PREPARED', 'redis admin credentials are missing');
    return (JSON.parse(readFileSync(this.path('admin.json'), 'utf8')) as { password: string }).password;
  }

  /** Where the agent itself reaches the server: loopback when it listens everywhere. */
  private probeHost(): string {
    return this.bindAddress === '0.0.0.0' || this.bindAddress === '*' || this.bindAddress.includes(' ')
      ? '127.0.0.1'
      : this.bindAddress;
  }

  private path(name: string): string {
    return join(this.context.dir, name);
  }
}

function strings(value: RespValue): string[] {
  if (value instanceof RespError || !Array.isArray(value)) return [];
  return value.filter((item): item is string => typeof item === 'string');
}

export function createRedisManager(context: ManagerContext): RedisManager {
  return new RedisManager(context);
}
