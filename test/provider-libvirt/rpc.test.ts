/**
 * The RPC client against a real libvirtd (started by scripts/setup/40-libvirt.sh): calls, concurrency,
 * errors, events and streams.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import {
  DomainEvent,
  getCapabilities,
  type Libvirt,
  LibvirtError,
  openLibvirt,
  PacketFramer,
  RemoteClient,
  RpcClient,
} from '@corral/provider-libvirt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, requireLibvirtd, SOCKET, URI, waitFor } from './helpers.js';

const prefix = `corralrpc-${process.pid}-`;
const pool = { name: `${prefix}pool`, path: `/var/lib/corral/test-pools/${prefix}pool` };
let lv: Libvirt;

beforeAll(async () => {
  requireLibvirtd();
  lv = await openLibvirt(URI);
});

afterAll(async () => {
  await lv?.close();
  await cleanup(prefix, pool);
});

describe('libvirt RPC against libvirtd', () => {
  it('answers cheap calls and reports libvirt 9.x', async () => {
    const { lib_ver } = await lv.connection.call('connect_get_lib_version');
    expect(Number(lib_ver)).toBeGreaterThanOrEqual(9_000_000);
    const caps = await getCapabilities(lv.connection);
    expect(caps.domainTypes).toContain('qemu');
  });

  it('keeps an idle connection open: libvirtd answers the keepalive pings the client sends by default', async () => {
    const socket = net.connect(SOCKET);
    await new Promise((resolve) => socket.once('connect', resolve));
    const framer = new PacketFramer();
    let pongs = 0;
    socket.on('data', (chunk: Buffer) => {
      for (const { header } of framer.push(chunk)) if (header.program === 0x6b656570 && header.procedure === 2) pongs++;
    });
    // Two silent intervals would close it: only answered pings keep it open past five.
    const remote = new RemoteClient(new RpcClient(socket, { keepaliveIntervalMs: 50, keepaliveCount: 2 }));
    await remote.call('auth_list');
    await remote.call('connect_open', { name: 'qemu:///system', flags: 0 });
    await waitFor('five keepalive answers', 10_000, async () => (pongs >= 5 ? true : undefined));
    expect(remote.rpc.closed).toBe(false);
    expect(Number((await remote.call('connect_get_lib_version')).lib_ver)).toBeGreaterThan(0);
    remote.close();
  });

  it('multiplexes 200 concurrent calls on one connection', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        i % 2 === 0 ? lv.connection.call('connect_get_lib_version') : lv.connection.call('node_get_info'),
      ),
    );
    expect(results).toHaveLength(200);
    expect(results.filter((r) => 'lib_ver' in r)).toHaveLength(100);
  });

  it('decodes libvirt errors into LibvirtError with code, domain and message', async () => {
    const error = await lv.domains.lookupByName(`${prefix}missing`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LibvirtError);
    expect(error).toMatchObject({ code: 42, domain: 10 });
    expect((error as Error).message).toContain(`${prefix}missing`);
  });

  it('delivers domain lifecycle events (defined, undefined)', async () => {
    const seen: Array<[string, number]> = [];
    const stop = await lv.connection.onLifecycle((event) => seen.push([event.dom.name, event.event]));
    const name = `${prefix}events`;
    const dom = await lv.domains.define(
      `<domain type='qemu'><name>${name}</name><memory unit='MiB'>32</memory><os><type arch='x86_64'>hvm</type></os></domain>`,
    );
    await lv.domains.undefine(dom);
    await waitFor('events', 5000, async () => (seen.filter(([n]) => n === name).length >= 2 ? true : undefined));
    expect(seen.filter(([n]) => n === name).map(([, e]) => e)).toEqual([DomainEvent.DEFINED, DomainEvent.UNDEFINED]);
    stop();
  });

  it('uploads a volume over a stream, byte for byte', async () => {
    const poolRef = await lv.storage.ensureDirPool(pool.name, pool.path);
    const data = new Uint8Array(1_500_000).map((_, i) => (i * 7) % 251);
    const vol = await lv.storage.createVolumeFrom(
      poolRef,
      `${prefix}upload.raw`,
      [data.subarray(0, 700_000), data.subarray(700_000)],
      data.byteLength,
    );
    const info = await lv.storage.info(vol);
    expect(Buffer.compare(await readFile(info.path), Buffer.from(data))).toBe(0);
    await lv.storage.deleteVolume(vol);
    expect(await lv.storage.findVolume(poolRef, `${prefix}upload.raw`)).toBeUndefined();
  });

  it('makes a qcow2 overlay on a base volume', async () => {
    const poolRef = await lv.storage.ensureDirPool(pool.name, pool.path);
    const base = await lv.storage.createVolume(poolRef, `${prefix}base.qcow2`, 64 * 1024 * 1024, 'qcow2');
    const overlay = await lv.storage.createOverlay(poolRef, `${prefix}overlay.qcow2`, base);
    const xml = (await lv.connection.call('storage_vol_get_xml_desc', { vol: overlay, flags: 0 })).xml;
    expect(xml).toContain('<backingStore>');
    expect(xml).toContain(`${prefix}base.qcow2`);
    await lv.storage.deleteVolume(overlay);
    await lv.storage.deleteVolume(base);
  });

  it('lists networks without starting any', async () => {
    const before = await lv.networks.list();
    expect(before.every((n) => typeof n.active === 'boolean')).toBe(true);
    const defaultNet = before.find((n) => n.name === 'default');
    if (defaultNet) expect(defaultNet.active).toBe(false);
  });
});
