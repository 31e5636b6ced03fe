/**
 * Launches a private mosquitto for corral (tests, single-node deployments): writes the certificates, CRL,
 * config and ACL into `dir`, spawns `/usr/sbin/mosquitto -c`, bound to loopback, and waits until it accepts
 * connections. `scripts/setup/20-mosquitto.sh` installs the Debian package and keeps its default instance off.
 *
 * Revocation on mosquitto is by CRL file. With `revocations` the broker follows a RevocationList while it runs
 * (mosquitto-revocation.ts): each revocation rewrites the CRL, reloads mosquitto (SIGHUP) and drops the revoked
 * guest's live connection, and the CRL is re-issued at half its validity. `updateCrl()` (a fixed PEM) rewrites
 * it and restarts the broker instead (persistence keeps sessions), which drops every connection.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { type MessagingLogger, silentLogger } from './log.js';
import { mosquittoAcl, mosquittoConfig } from './mosquitto-config.js';
import { MosquittoCrlFollower, type MosquittoRevocationOptions } from './mosquitto-revocation.js';

export const MOSQUITTO_BINARY = '/usr/sbin/mosquitto';

export interface StartMosquittoOptions {
  /** Working directory for config, ACL, certificates, persistence and log (created, mode 0700). */
  dir: string;
  /** Default 0: pick a free port (kept across restarts). */
  port?: number;
  host?: string;
  ca: string;
  cert: string;
  key: string;
  /** Control-plane service names (CN `service.<name>`) allowed the whole prefix. */
  services: string[];
  /** PEM CRL (pki's `RevocationList.toCrlPem`), fixed until `updateCrl()`. */
  crlPem?: string;
  /** Follow this revocation list instead (takes precedence over `crlPem`): revoked guests are cut off at once. */
  revocations?: MosquittoRevocationOptions;
  binary?: string;
  startTimeoutMs?: number;
  logger?: MessagingLogger;
}

export interface MosquittoHandle {
  url: string;
  host: string;
  port: number;
  dir: string;
  pid(): number | undefined;
  /** Rewrites the CRL and restarts mosquitto so it takes effect (connected revoked clients are dropped). */
  updateCrl(crlPem: string): Promise<void>;
  stop(): Promise<void>;
  /** Start again after `stop()` (same port, same persistence). */
  start(): Promise<void>;
  /** With `revocations`: rewrite the CRL and reload now (what a revocation or the refresh timer does). */
  refreshCrl(): Promise<void>;
  /** Stops mosquitto and stops following revocations. */
  close(): Promise<void>;
  log(): Promise<string>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startMosquitto(options: StartMosquittoOptions): Promise<MosquittoHandle> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port || (await freePort(host));
  const dir = options.dir;
  const logger = (options.logger ?? silentLogger()).child({ component: 'mosquitto', port });
  await mkdir(join(dir, 'data'), { recursive: true, mode: 0o700 });
  const file = (name: string) => join(dir, name);
  await writeFile(file('ca.pem'), options.ca, { mode: 0o644 });
  await writeFile(file('server.pem'), options.cert, { mode: 0o644 });
  await writeFile(file('server-key.pem'), options.key, { mode: 0o600 });
  const withCrl = options.crlPem !== undefined || options.revocations !== undefined;
  if (options.crlPem && !options.revocations) await writeFile(file('crl.pem'), options.crlPem, { mode: 0o644 });
  await writeFile(file('acl'), mosquittoAcl(options.services), { mode: 0o644 });
  await writeFile(
    file('mosquitto.conf'),
    mosquittoConfig({
      host,
      port,
      caFile: file('ca.pem'),
      certFile: file('server.pem'),
      keyFile: file('server-key.pem'),
      aclFile: file('acl'),
      crlFile: withCrl ? file('crl.pem') : undefined,
      persistenceDir: file('data'),
      logFile: file('mosquitto.log'),
      user: userInfo().username,
    }),
    { mode: 0o600 },
  );

  let child: ChildProcess | undefined;
  const follower = options.revocations
    ? new MosquittoCrlFollower(options.revocations, {
        crlFile: file('crl.pem'),
        logFile: file('mosquitto.log'),
        url: `mqtts://${host}:${port}`,
        pid: () => child?.pid,
        logger,
      })
    : undefined;
  await follower?.writeCrl();

  const start = async () => {
    if (child) return;
    const proc = spawn(options.binary ?? MOSQUITTO_BINARY, ['-c', file('mosquitto.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let exited = false;
    proc.once('exit', (code, signal) => {
      exited = true;
      if (child === proc) child = undefined;
      logger.info({ code, signal }, 'mosquitto exited');
    });
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    while (Date.now() < deadline) {
      if (exited) break;
      if (await canConnect(host, port)) {
        logger.info({ pid: proc.pid }, 'mosquitto listening');
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    proc.kill('SIGKILL');
    const log = await readFile(file('mosquitto.log'), 'utf8').catch(() => '');
    throw new Error(
      `mosquitto did not start on ${host}:${port}: ${stderr.trim()} ${log.trim().split('\n').slice(-5).join(' | ')}`,
    );
  };

  const stop = async () => {
    const proc = child;
    if (!proc) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    child = undefined;
  };

  await start();
  return {
    url: `mqtts://${host}:${port}`,
    host,
    port,
    dir,
    pid: () => child?.pid,
    async updateCrl(crlPem: string) {
      if (!withCrl) throw new Error('startMosquitto: pass crlPem or revocations at start to enable revocation');
      await writeFile(file('crl.pem'), crlPem, { mode: 0o644 });
      await stop();
      await start();
    },
    stop,
    start,
    refreshCrl: async () => follower?.update(),
    async close() {
      follower?.dispose();
      await stop();
    },
    log: () => readFile(file('mosquitto.log'), 'utf8').catch(() => ''),
  };
}
