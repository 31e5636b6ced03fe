/**
 * libvirt RPC client throughput: calls per second on cheap procedures (connect_get_lib_version,
 * node_get_info), sequential and with 32 calls in flight on one connection, latency percentiles, and
 * volume upload throughput over a stream. Needs libvirtd (scripts/setup/40-libvirt.sh).
 *
 *   npx tsx bench/libvirt-rpc.ts   → one JSON line
 */
import { rm } from 'node:fs/promises';
import { openLibvirt } from '@corral/provider-libvirt';

const uri = process.env.LIBVIRT_URI ?? 'qemu:///system';
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  const lv = await openLibvirt(uri);
  const c = lv.connection;
  for (let i = 0; i < 200; i++) await c.call('connect_get_lib_version'); // warm up

  const sequential = async (run: () => Promise<unknown>, calls: number) => {
    const latencies: number[] = [];
    const started = performance.now();
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      await run();
      latencies.push(performance.now() - t);
    }
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      perSecond: Math.round(calls / seconds),
      p50Ms: round(latencies[Math.floor(calls * 0.5)]!, 3),
      p99Ms: round(latencies[Math.floor(calls * 0.99)]!, 3),
    };
  };
  const concurrent = async (run: () => Promise<unknown>, calls: number, inFlight: number) => {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next++ < calls) await run();
      }),
    );
    return Math.round(calls / ((performance.now() - started) / 1000));
  };

  const libVersion = () => c.call('connect_get_lib_version');
  const nodeInfo = () => c.call('node_get_info');
  const calls = 5000;
  const result = {
    setup: `libvirtd 9.0 over ${uri} (unix socket), one connection, pure TypeScript XDR client, Node ${process.version}`,
    anchor: 'calls per second on one connection; upload MB/s into a dir pool',
    connectGetLibVersion: {
      sequential: await sequential(libVersion, calls),
      concurrent32PerSecond: await concurrent(libVersion, calls, 32),
    },
    nodeGetInfo: {
      sequential: await sequential(nodeInfo, calls),
      concurrent32PerSecond: await concurrent(nodeInfo, calls, 32),
    },
    upload: await upload(lv),
  };
  await lv.close();
  console.log(JSON.stringify(result));
}

async function upload(lv: Awaited<ReturnType<typeof openLibvirt>>) {
  const name = `corral-bench-${process.pid}`;
  const path = `/var/lib/corral/bench-pools/${name}`;
  const pool = await lv.storage.ensureDirPool(name, path);
  const size = 128 * 1024 * 1024;
  const chunk = new Uint8Array(1024 * 1024).fill(7);
  try {
    const vol = await lv.storage.createVolume(pool, 'upload.raw', size);
    const started = performance.now();
    await lv.storage.upload(
      vol,
      (function* () {
        for (let sent = 0; sent < size; sent += chunk.byteLength) yield chunk;
      })(),
      size,
    );
    const seconds = (performance.now() - started) / 1000;
    await lv.storage.deleteVolume(vol);
    return { mib: size / 1048576, mibPerSecond: round(size / 1048576 / seconds, 1) };
  } finally {
    await lv.connection.call('storage_pool_destroy', { pool }).catch(() => {});
    await lv.connection.call('storage_pool_undefine', { pool }).catch(() => {});
    await rm(path, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
