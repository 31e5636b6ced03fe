/**
 * The TCP, TLS and ssh transports, end to end against the real libvirtd (scripts/setup/40-libvirt.sh).
 * libvirtd here listens on its unix socket only, so the test puts loopback relays in front of it: a TCP
 * relay, a TLS-terminating relay with a throwaway certificate, and a stand-in `ssh` that runs the remote
 * command (virt-ssh-helper) locally.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { openRemote } from '@corral/provider-libvirt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireLibvirtd, SOCKET } from './helpers.js';

const relay = (client: net.Socket) => {
  const daemon = net.connect(SOCKET);
  client.pipe(daemon).pipe(client);
  client.on('error', () => daemon.destroy());
  daemon.on('error', () => client.destroy());
};

let dir: string;
let tcpServer: net.Server;
let tlsServer: tls.Server;
let cert: Buffer;

const listen = (server: net.Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );

beforeAll(() => {
  requireLibvirtd();
  dir = mkdtempSync(join(tmpdir(), 'corral-libvirt-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  cert = readFileSync(join(dir, 'cert.pem'));
  tcpServer = net.createServer(relay);
  tlsServer = tls.createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, relay);
});

afterAll(async () => {
  await new Promise((resolve) => tcpServer?.close(resolve));
  await new Promise((resolve) => tlsServer?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const version = async (remote: Awaited<ReturnType<typeof openRemote>>) => {
  try {
    return (await remote.call('connect_get_lib_version')).lib_ver;
  } finally {
    remote.close();
  }
};

describe('transports', () => {
  it('qemu+tcp://', async () => {
    const port = await listen(tcpServer);
    expect(await version(await openRemote(`qemu+tcp://127.0.0.1:${port}/system`))).toBeGreaterThan(0n);
  });

  it('qemu+tls:// verifies the server against the given CA', async () => {
    const port = await listen(tlsServer);
    expect(
      await version(await openRemote(`qemu+tls://127.0.0.1:${port}/system`, { tls: { ca: cert } })),
    ).toBeGreaterThan(0n);
    await expect(openRemote(`qemu+tls://127.0.0.1:${port}/system`, { tls: { ca: Buffer.from('') } })).rejects.toThrow(
      /certificate/,
    );
  });

  it('qemu+ssh:// runs virt-ssh-helper through the ssh command', async () => {
    const fakeSsh = fileURLToPath(new URL('./fixtures/fake-ssh.sh', import.meta.url));
    const remote = await openRemote('qemu+ssh://root@libvirt-host.invalid/system', { ssh: { command: fakeSsh } });
    expect(await version(remote)).toBeGreaterThan(0n);
  });

  it('a refused connection is a clear error, not a hang', async () => {
    const server = net.createServer();
    const port = await listen(server);
    await new Promise((resolve) => server.close(resolve));
    await expect(openRemote(`qemu+tcp://127.0.0.1:${port}/system`)).rejects.toThrow(/cannot connect/);
  });
});
