import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { abortedError } from './abort.js';
import { ConnectionClosedError } from './errors.js';
import type { LibvirtUri } from './uri.js';

export interface TransportOptions {
  /** TLS material; defaults are libvirt's own paths (/etc/pki/...). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  /** The ssh binary (default `ssh`) and extra arguments (`-i key`, `-o StrictHostKeyChecking=...`). */
  ssh?: { command?: string; args?: string[] };
  /** How long the dial (TCP connect, TLS handshake) may take. Default 10 s. */
  connectTimeoutMs?: number;
}

function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function connectSocket(
  socket: net.Socket,
  event: 'connect' | 'secureConnect',
  timeoutMs: number,
  what: string,
  signal?: AbortSignal,
) {
  return new Promise<Duplex>((resolve, reject) => {
    const settle = (error?: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      if (!error) return resolve(socket);
      socket.destroy();
      reject(error);
    };
    const onAbort = () => settle(abortedError(signal as AbortSignal, `connecting to ${what}`));
    const timer = setTimeout(
      () => settle(new ConnectionClosedError(`connecting to ${what} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once(event, () => settle());
    socket.once('error', (error) =>
      settle(new ConnectionClosedError(`cannot connect to ${what}: ${error.message}`, { cause: error })),
    );
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Opens the byte stream to libvirtd that a URI names: its unix socket, TCP, TLS, or the system `ssh`
 * running a proxy (virt-ssh-helper, else `nc -U`) next to the remote daemon's socket.
 */
export async function openTransport(
  uri: LibvirtUri,
  options: TransportOptions = {},
  signal?: AbortSignal,
): Promise<Duplex> {
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  switch (uri.transport) {
    case 'unix':
      return connectSocket(net.connect(uri.socket), 'connect', timeoutMs, uri.socket, signal);
    case 'tcp':
      return connectSocket(
        net.connect(uri.port ?? 16509, uri.host ?? 'localhost'),
        'connect',
        timeoutMs,
        `${uri.host}:${uri.port}`,
        signal,
      );
    case 'tls': {
      const pki = uri.params.pkipath;
      const socket = tls.connect({
        host: uri.host ?? 'localhost',
        port: uri.port ?? 16514,
        servername: uri.host && net.isIP(uri.host) === 0 ? uri.host : undefined,
        ca: options.tls?.ca ?? readIfExists(pki ? `${pki}/cacert.pem` : '/etc/pki/CA/cacert.pem'),
        cert: options.tls?.cert ?? readIfExists(pki ? `${pki}/clientcert.pem` : '/etc/pki/libvirt/clientcert.pem'),
        key: options.tls?.key ?? readIfExists(pki ? `${pki}/clientkey.pem` : '/etc/pki/libvirt/private/clientkey.pem'),
        rejectUnauthorized: options.tls?.rejectUnauthorized ?? uri.params.no_verify !== '1',
      });
      return connectSocket(socket, 'secureConnect', timeoutMs, `${uri.host}:${uri.port} (TLS)`, signal);
    }
    case 'ssh':
      return openSsh(uri, options);
  }
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function openSsh(uri: LibvirtUri, options: TransportOptions): Promise<Duplex> {
  if (!uri.host) throw new TypeError('uri: qemu+ssh:// needs a host');
  const args = [...(options.ssh?.args ?? []), '-e', 'none', '-T'];
  if (uri.port) args.push('-p', String(uri.port));
  if (uri.user) args.push('-l', uri.user);
  if (uri.params.keyfile) args.push('-i', uri.params.keyfile);
  // Like libvirt's proxy=auto: prefer virt-ssh-helper, fall back to netcat on the daemon's socket.
  const proxy =
    `if command -v virt-ssh-helper >/dev/null 2>&1; then exec virt-ssh-helper ${shellQuote(uri.name)}; ` +
    `else exec nc -U ${shellQuote(uri.socket)}; fi`;
  args.push('--', uri.host, 'sh', '-c', shellQuote(proxy));
  const child = spawn(options.ssh?.command ?? 'ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const duplex = Duplex.from({ readable: child.stdout, writable: child.stdin });
  child.on('exit', (code) => {
    duplex.destroy(code ? new ConnectionClosedError(`ssh exited with ${code}: ${stderr.trim()}`) : undefined);
  });
  duplex.on('close', () => child.kill());
  return new Promise((resolve, reject) => {
    child.once('spawn', () => resolve(duplex));
    child.once('error', (error) =>
      reject(new ConnectionClosedError(`cannot run ssh: ${error.message}`, { cause: error })),
    );
  });
}
