import { execFile } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import * as z from 'zod';
import { AgentError } from '../../errors.js';
import { BaseManager } from '../../manager/base.js';
import type { DatabaseSpec, Health, ManagerContext, PrepareRequest, UserInfo, UserSpec } from '../../manager/types.js';
import { SupervisedProcess } from '../../process/supervised.js';
import { lookupUser } from '../../process/users.js';
import {
  checkName,
  debianPostgresBinDirs,
  findBinary,
  generatePassword,
  parseManagerOptions,
  tailFile,
  waitHealthy,
} from '../common.js';

const run = promisify(execFile);

export const PostgresOptionsSchema = z.object({
  /** Directory holding initdb and postgres; default: newest /usr/lib/postgresql/<major>/bin, then PATH. */
  binDir: z.string().min(1).optional(),
  /** Unix user that runs the server when the agent runs as root (PostgreSQL refuses root). */
  runAsUser: z.string().min(1).default('postgres'),
  startTimeoutSeconds: z.number().min(1).max(600).default(60),
});
export type PostgresOptions = z.infer<typeof PostgresOptionsSchema>;

const SUPERUSER = 'postgres';
const INITDB_TIMEOUT_MS = 600_000;
const ROOT_USER = 'root';

/**
 * PostgreSQL: initdb into `<stateDir>/postgresql/data` with a generated superuser password (scram-sha-256),
 * its own port and socket directory, the `postgres` server binary run detached as an unprivileged unix user,
 * databases and users through `pg`, health by a real connection and `SELECT 1`.
 */
export class PostgresManager extends BaseManager {
  readonly name = 'postgresql';
  private readonly options: PostgresOptions;
  private readonly port: number;
  private readonly bindAddress: string;
  private readonly server: SupervisedProcess;
  private readonly runAs: { uid: number; gid: number } | undefined;
  private readonly runAsProblem: string | undefined;

  constructor(context: ManagerContext) {
    super(context);
    this.options = parseManagerOptions(PostgresOptionsSchema, context.datastore.options);
    this.port = context.datastore.port ?? 5432;
    this.bindAddress = context.datastore.bindAddress ?? '0.0.0.0';
    if (process.getuid?.() === 0) {
      this.runAs = lookupUser(this.options.runAsUser);
      if (!this.runAs) {
        this.runAsProblem =
          `PostgreSQL refuses to run as root and this guest has no "${this.options.runAsUser}" unix user: ` +
          'add one to the image (e.g. `adduser -S -D postgres`) or set datastore.options.runAsUser';
      }
    }
    this.server = new SupervisedProcess({
      command: this.binary('postgres') ?? 'postgres',
      args: ['-D', this.path('data')],
      pidFile: this.path('postgres.pid'),
      logFile: this.path('postgres.log'),
      cmdlineMatch: this.path('data'),
      cwd: context.dir,
      ...(this.runAs ?? {}),
    });
    this.server.onExit(({ code, signal }) => {
      context.logger.warn({ manager: this.name, code, signal }, 'postgres exited');
      context.statusChanged();
    });
  }

  protected async doPrepare(request: PrepareRequest): Promise<void> {
    if (this.runAsProblem) throw new AgentError('DATASTORE_FAILED', this.runAsProblem);
    const initdb = this.binary('initdb');
    if (!initdb || !this.binary('postgres')) {
      throw new AgentError(
        'DATASTORE_FAILED',
        'PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or PATH',
      );
    }
    await this.server.stop('SIGINT');
    rmSync(this.path('data'), { recursive: true, force: true });
    this.makeReachable();
    for (const dir of ['run', 'data']) {
      mkdirSync(this.path(dir), { recursive: true, mode: 0o700 });
      this.own(this.path(dir));
    }

    const password = generatePassword();
    writeFileSync(this.path('admin.json'), JSON.stringify({ password }), { mode: 0o600 });
    const pwfile = this.path('initdb.pw');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    this.own(pwfile);
    try {
      await run(
        initdb,
        [
          '-D',
          this.path('data'),
          '-U',
          SUPERUSER,
          `--pwfile=${pwfile}`,
          '-A',
          'scram-sha-256',
          '-E',
          'UTF8',
          '--locale=C',
          '--no-instructions',
        ],
        {
          cwd: this.context.dir,
          // Under emulation on a busy host initdb takes minutes (it writes and fsyncs a whole cluster).
          timeout: INITDB_TIMEOUT_MS,
          ...(this.runAs ?? {}),
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        },
      );
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '')
        .trim()
        .split('\n')
        .slice(-3)
        .join(' | ');
      if ((error as { killed?: boolean }).killed) {
        throw new AgentError('DATASTORE_FAILED', `initdb did not finish within ${INITDB_TIMEOUT_MS / 1000} s`);
      }
      throw new AgentError('DATASTORE_FAILED', `initdb failed: ${stderr || (error as Error).message}`);
    } finally {
      rmSync(pwfile, { force: true });
    }

    const listen = this.bindAddress === '0.0.0.0' ? '*' : this.bindAddress;
    appendFileSync(
      this.path('data/postgresql.conf'),
      [
        '',
        '# corral-agent',
        `listen_addresses = '${listen}'`,
        `port = ${this.port}`,
        `unix_socket_directories = '${this.path('run')}'`,
        '',
      ].join('\n'),
    );
    if (!isLoopback(this.bindAddress)) {
      appendFileSync(
        this.path('data/pg_hba.conf'),
        '\n# corral-agent: password logins from anywhere the guest is reachable\nhost all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n',
      );
    }
    if (request.overrides && Object.keys(request.overrides).length > 0) {
      appendFileSync(
        this.path('data/postgresql.auto.conf'),
        Object.entries(request.overrides)
          .map(([key, value]) => `${checkSetting(key)} = ${quoteSetting(value)}\n`)
          .join(''),
      );
    }
    await this.startDatastore();
    if (request.databases?.length) await this.createDatabases(request.databases, true);
    if (request.users?.length) await this.createUsers(request.users, true);
    if (request.rootPassword !== undefined) await this.setRoot(request.rootPassword);
  }

  protected async startDatastore(): Promise<void> {
    if (this.runAsProblem) throw new AgentError('DATASTORE_FAILED', this.runAsProblem);
    this.makeReachable();
    await this.server.start();
    await waitHealthy(
      'postgres',
      () => this.checkHealth(),
      this.options.startTimeoutSeconds * 1000,
      () => tailFile(this.path('postgres.log')),
    );
  }

  protected async stopDatastore(): Promise<void> {
    // SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, checkpoint, exit.
    await this.server.stop('SIGINT', 30_000);
  }

  protected async checkHealth(): Promise<Health> {
    if (!this.server.isRunning()) return 'down';
    try {
      await this.query('SELECT 1');
      return 'healthy';
    } catch {
      return 'starting';
    }
  }

  override async listDatabases(): Promise<Array<{ name: string }>> {
    this.requirePrepared();
    const rows = await this.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY datname",
    );
    return rows.map((row) => ({ name: row.datname }));
  }

  override async createDatabases(databases: DatabaseSpec[], duringPrepare = false): Promise<void> {
    if (!duringPrepare) this.requirePrepared();
    for (const database of databases) checkName('database', database.name);
    await this.withClient(async (client) => {
      for (const database of databases) {
        const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database.name]);
        if (exists.rowCount) continue; // Trove's create_database skips existing databases too.
        const encoding = database.characterSet ? ` ENCODING ${client.escapeLiteral(database.characterSet)}` : '';
        const collate = database.collate
          ? ` LC_COLLATE ${client.escapeLiteral(database.collate)} TEMPLATE template0`
          : '';
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(database.name)}${encoding}${collate}`);
      }
    });
  }

  override async deleteDatabase(name: string): Promise<void> {
    this.requirePrepared();
    checkName('database', name);
    if (name === 'postgres') throw new AgentError('BAD_REQUEST', 'database name: "postgres" belongs to the agent');
    await this.withClient((client) =>
      client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`),
    );
  }

  override async listUsers(): Promise<UserInfo[]> {
    this.requirePrepared();
    const rows = await this.query<{ name: string; databases: string[] | null }>(
      `SELECT r.rolname::text AS name,
              array_remove(array_agg(d.datname::text ORDER BY d.datname), NULL) AS databases
         FROM pg_roles r
         LEFT JOIN pg_database d
           ON NOT d.datistemplate AND d.datname <> 'postgres'
          AND d.datdba <> r.oid AND has_database_privilege(r.rolname, d.datname, 'CREATE')
        WHERE r.rolcanlogin AND r.rolname NOT IN ('${SUPERUSER}', '${ROOT_USER}') AND r.rolname NOT LIKE 'pg\\_%'
        GROUP BY r.rolname ORDER BY r.rolname`,
    );
    return rows.map((row) => ({ name: row.name, databases: (row.databases ?? []).map((db) => ({ name: db })) }));
  }

  override async createUsers(users: UserSpec[], duringPrepare = false): Promise<void> {
    if (!duringPrepare) this.requirePrepared();
    for (const user of users) {
      checkName('user', user.name);
      if (user.name === SUPERUSER || user.name === ROOT_USER) {
        throw new AgentError('BAD_REQUEST', `user name: "${user.name}" is reserved`);
      }
      if (user.password.length === 0)
        throw new AgentError('BAD_REQUEST', `user ${user.name}: password must not be empty`);
      for (const database of user.databases ?? []) checkName('database', database.name);
    }
    await this.withClient(async (client) => {
      for (const user of users) {
        const role = client.escapeIdentifier(user.name);
        const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user.name]);
        await client.query(
          `${exists.rowCount ? 'ALTER' : 'CREATE'} ROLE ${role} LOGIN PASSWORD ${client.escapeLiteral(user.password)}`,
        );
        for (const database of user.databases ?? []) {
          await client.query(`GRANT ALL PRIVILEGES ON DATABASE ${client.escapeIdentifier(database.name)} TO ${role}`);
        }
      }
    });
    // Since PostgreSQL 15 only the owner may create in schema public: "full access" to a database needs it too.
    for (const user of users) {
      for (const database of user.databases ?? []) {
        await this.withClient(
          (client) => client.query(`GRANT ALL ON SCHEMA public TO ${client.escapeIdentifier(user.name)}`),
          database.name,
        );
      }
    }
  }

  override async deleteUser(name: string): Promise<void> {
    this.requirePrepared();
    checkName('user', name);
    if (name === SUPERUSER) throw new AgentError('BAD_REQUEST', 'user name: "postgres" belongs to the agent');
    const exists = await this.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    if (exists.length === 0) return;
    const databases = await this.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn',
    );
    // A role that owns objects or holds privileges cannot be dropped: its objects go to the agent's superuser
    // (the data stays), then its privileges are dropped, in every database.
    for (const row of databases) {
      await this.withClient(async (client) => {
        const role = client.escapeIdentifier(name);
        await client.query(`REASSIGN OWNED BY ${role} TO ${SUPERUSER}`);
        await client.query(`DROP OWNED BY ${role}`);
      }, row.datname);
    }
    await this.withClient((client) => client.query(`DROP ROLE IF EXISTS ${client.escapeIdentifier(name)}`));
  }

  override async enableRoot(password?: string): Promise<{ name: string; password: string }> {
    this.requirePrepared();
    const rootPassword = password ?? generatePassword();
    await this.setRoot(rootPassword);
    return { name: ROOT_USER, password: rootPassword };
  }

  override async disableRoot(): Promise<void> {
    this.requirePrepared();
    await this.withClient(async (client) => {
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [ROOT_USER]);
      if (exists.rowCount) await client.query(`ALTER ROLE ${ROOT_USER} NOLOGIN`);
    });
  }

  /** True once root was enabled, also after disable_root (Trove's meaning: "has root ever been enabled"). */
  override async isRootEnabled(): Promise<boolean> {
    this.requirePrepared();
    const rows = await this.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [ROOT_USER]);
    return rows.length > 0;
  }

  /** ALTER SYSTEM (postgresql.auto.conf): effective at the next restart, or reload for reloadable settings. */
  override async updateOverrides(overrides: Record<string, string | number | boolean>, remove: boolean): Promise<void> {
    this.requirePrepared();
    await this.alterSystem(overrides, remove);
  }

  /** ALTER SYSTEM, then a reload: settings PostgreSQL can change without a restart take effect now. */
  override async applyOverrides(overrides: Record<string, string | number | boolean>): Promise<void> {
    this.requirePrepared();
    await this.alterSystem(overrides, false);
    await this.query('SELECT pg_reload_conf()');
  }

  private async alterSystem(overrides: Record<string, string | number | boolean>, remove: boolean): Promise<void> {
    for (const key of Object.keys(overrides)) checkSetting(key);
    await this.withClient(async (client) => {
      for (const [key, value] of Object.entries(overrides)) {
        await client.query(
          remove ? `ALTER SYSTEM RESET ${key}` : `ALTER SYSTEM SET ${key} = ${client.escapeLiteral(String(value))}`,
        );
      }
    });
  }

  private async setRoot(password: string): Promise<void> {
    await this.withClient(async (client) => {
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [ROOT_USER]);
      await client.query(
        `${exists.rowCount ? 'ALTER' : 'CREATE'} ROLE ${ROOT_USER} SUPERUSER LOGIN PASSWORD ${client.escapeLiteral(password)}`,
      );
    });
  }

  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    return this.withClient(async (client) => (await client.query<R>(text, values)).rows);
  }

  private async withClient<T>(work: (client: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
    const client = new pg.Client({
      host: isLoopback(this.bindAddress) || this.bindAddress === '0.0.0.0' ? '127.0.0.1' : this.bindAddress,
      port: this.port,
      user: SUPERUSER,
      password: this.adminPassword(),
      database,
      // SCRAM's key stretching runs on an emulated CPU in a TCG guest: seconds, not milliseconds, on a busy host.
      connectionTimeoutMillis: 20_000,
      query_timeout: 30_000,
    });
    // A server going away mid-query emits 'error' on the client; the awaited call rejects anyway.
    client.on('error', () => {});
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end().catch(() => {});
    }
  }

  private adminPassword(): string {
    if (!existsSync(this.path('admin.json')))
      throw new AgentError('NOT_PREPARED', 'postgresql admin credentials are missing');
    return (JSON.parse(readFileSync(this.path('admin.json'), 'utf8')) as { password: string }).password;
  }

  private binary(name: string): string | undefined {
    const dirs = this.options.binDir ? [this.options.binDir] : debianPostgresBinDirs();
    return findBinary(name, dirs);
  }

  /** The server's user must be able to walk into the state dir: traverse-only (no listing) on the way down. */
  private makeReachable(): void {
    const runAs = this.runAs;
    if (!runAs) return;
    for (const dir of [this.context.stateDir, this.context.dir]) chmodSync(dir, 0o711);
    // Directories above the state dir are not the agent's to change: say which one blocks the way.
    for (let dir = dirname(this.context.stateDir); ; dir = dirname(dir)) {
      const stats = statSync(dir);
      const traversable =
        stats.mode & 0o001 ||
        (stats.uid === runAs.uid && stats.mode & 0o100) ||
        (stats.gid === runAs.gid && stats.mode & 0o010);
      if (!traversable) {
        throw new AgentError(
          'DATASTORE_FAILED',
          `the ${this.options.runAsUser} user cannot reach the state dir: ${dir} is not traversable (chmod o+x it, or choose another stateDir)`,
        );
      }
      if (dir === dirname(dir)) break;
    }
  }

  private own(path: string): void {
    if (this.runAs) chownSync(path, this.runAs.uid, this.runAs.gid);
  }

  private path(name: string): string {
    return join(this.context.dir, name);
  }
}

/** Settings the manager owns (where the server listens, where its files are) are not overridable. */
const RESERVED_SETTINGS = new Set([
  'port',
  'listen_addresses',
  'unix_socket_directories',
  'data_directory',
  'hba_file',
]);

function checkSetting(key: string): string {
  if (!/^[a-z_][a-z0-9_.]*$/.test(key) || RESERVED_SETTINGS.has(key)) {
    throw new AgentError('BAD_REQUEST', `overrides.${key}: not a PostgreSQL setting the agent lets you change`);
  }
  return key;
}

function quoteSetting(value: unknown): string {
  if (!['string', 'number', 'boolean'].includes(typeof value) || /[\r\n]/.test(String(value))) {
    throw new AgentError('BAD_REQUEST', 'overrides: values must be single-line strings, numbers or booleans');
  }
  return `'${String(value).replaceAll("'", "''")}'`;
}

function isLoopback(address: string): boolean {
  return address === 'localhost' || address.startsWith('127.') || address === '::1';
}

export function createPostgresManager(context: ManagerContext): PostgresManager {
  return new PostgresManager(context);
}
