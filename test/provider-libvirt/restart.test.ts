/**
 * libvirtd restarted in the middle of an operation: the call in flight fails with a clear
 * ConnectionClosedError, the next call reconnects, and nothing is left behind (volumes, sockets).
 * Needs libvirtd from scripts/setup/40-libvirt.sh; this suite stops and restarts it (the daemon's
 * pid file is /var/run/libvirtd.pid).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { ConnectionClosedError, type Libvirt, openLibvirt } from '@corral/provider-libvirt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, requireLibvirtd, SOCKET, URI, waitFor } from './helpers.js';

const prefix = `corralrestart-${process.pid}-`;
const pool = { name: `${prefix}pool`, path: `/var/lib/corral/test-pools/${prefix}pool` };
let lv: Libvirt;

function libvirtdPid(): number | undefined {
  try {
    const pid = Number(readFileSync('/var/run/libvirtd.pid', 'utf8').trim());
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function restartLibvirtd(): Promise<void> {
  const pid = libvirtdPid();
  if (pid === undefined)
    throw new Error('libvirtd has no live pid file; was it started by scripts/setup/40-libvirt.sh?');
  process.kill(pid, 'SIGTERM');
  await waitFor('libvirtd to exit', 30_000, async () => (libvirtdPid() === undefined ? true : undefined));
  execFileSync('libvirtd', ['-d']);
  await waitFor('libvirtd socket', 30_000, async () =>
    existsSync(SOCKET) && libvirtdPid() !== undefined ? true : undefined,
  );
}

const socketCount = () =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return execFileSync('readlink', [`/proc/self/fd/${fd}`], { encoding: 'utf8' }).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;

beforeAll(async () => {
  requireLibvirtd();
  lv = await openLibvirt(URI);
});

afterAll(async () => {
  await lv?.close();
  await cleanup(prefix, pool);
});

describe('libvirtd restart', () => {
  it('fails the upload in flight with ConnectionClosedError, then reconnects and leaks nothing', async () => {
    const poolRef = await lv.storage.ensureDirPool(pool.name, pool.path);
    const sockets = socketCount();
    const size = 64 * 1024 * 1024;
    const vol = await lv.storage.createVolume(poolRef, `${prefix}slow.raw`, size);
    let sent = 0;
    async function* slowly() {
      const chunk = new Uint8Array(256 * 1024);
      while (sent < size) {
        sent += chunk.byteLength;
        yield chunk;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const upload = lv.storage.upload(vol, slowly(), size);
    upload.catch(() => {});
    await waitFor('the upload to be under way', 10_000, async () => (sent > 1024 * 1024 ? true : undefined));
    await restartLibvirtd();
    const error = await upload.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect((error as Error).message).toMatch(
      /storage_vol_upload failed: libvirtd closed the connection|libvirt connection/,
    );
    expect(sent).toBeLessThan(size);

    // The same connection object dials again on the next call.
    const { lib_ver } = await lv.connection.call('connect_get_lib_version');
    expect(lib_ver).toBeGreaterThan(0n);
    const again = await lv.storage.findVolume(poolRef, `${prefix}slow.raw`);
    expect(again).toBeDefined();
    await lv.storage.deleteVolume(again!);
    expect(await lv.storage.findVolume(poolRef, `${prefix}slow.raw`)).toBeUndefined();
    // One socket before (the connection), one after: the dead one was released.
    expect(socketCount()).toBe(sockets);
  });
});
