/**
 * A hostile stand-in for libvirtd on a unix socket, for the libvirt client's fault and security suites. It
 * speaks just enough of libvirt's protocol to misbehave in the ways a hung, broken or malicious daemon does:
 *   - `silent`: accepts connections, reads everything, answers nothing;
 *   - `partial`: answers every call with the first bytes of a packet and never the rest;
 *   - `stalls-after-handshake`: answers auth_list and connect_open like libvirtd, then nothing more;
 *   - `keepalive-flood`: sends keepalive PINGs as fast as the socket takes them and never reads.
 * No setup script: it needs nothing but a temporary directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePacket, PacketFramer, PacketStatus, PacketType, protocol, xdr } from '@corral/provider-libvirt';

export type HostileMode = 'silent' | 'partial' | 'stalls-after-handshake' | 'keepalive-flood';

export interface HostileLibvirtd {
  /** A URI for the client: `qemu:///system?socket=…`. */
  uri: string;
  socket: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Calls received so far (packets of type CALL), over all connections. */
  readonly calls: number;
  /** Keepalive PINGs written so far (`keepalive-flood`). */
  readonly pingsSent: number;
  /** Resolves once the daemon has received `count` calls in all. */
  receivedCalls(count: number): Promise<void>;
  close(): Promise<void>;
}

const KEEPALIVE_PROGRAM = 0x6b656570;
const KEEPALIVE_PING = 1;
const PROC_AUTH_LIST = protocol.remoteProcedures.auth_list.id;
const PROC_CONNECT_OPEN = protocol.remoteProcedures.connect_open.id;
/** PINGs per write in flood mode: one 28-byte packet each. */
const PINGS_PER_WRITE = 4096;

export async function startHostileLibvirtd(mode: HostileMode): Promise<HostileLibvirtd> {
  const dir = await mkdtemp(join(tmpdir(), 'corral-hostile-libvirtd-'));
  const socket = join(dir, 'libvirt-sock');
  const sockets = new Set<net.Socket>();
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const state = { connections: 0, calls: 0, pingsSent: 0 };
  const countCall = () => {
    state.calls++;
    for (const waiter of [...waiters]) {
      if (state.calls < waiter.count) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  };
  const ping = encodePacket(
    {
      program: KEEPALIVE_PROGRAM,
      version: 1,
      procedure: KEEPALIVE_PING,
      type: PacketType.MESSAGE,
      serial: 0,
      status: PacketStatus.OK,
    },
    new Uint8Array(0),
  );
  const pings = Buffer.concat(Array.from({ length: PINGS_PER_WRITE }, () => ping));

  const server = net.createServer((conn) => {
    state.connections++;
    sockets.add(conn);
    conn.on('close', () => sockets.delete(conn));
    conn.on('error', () => {});
    if (mode === 'keepalive-flood') {
      conn.pause(); // never reads: whatever the client answers piles up on its side
      const flood = () => {
        while (!conn.destroyed) {
          state.pingsSent += PINGS_PER_WRITE;
          if (!conn.write(pings)) return void conn.once('drain', flood);
        }
      };
      flood();
      return;
    }
    const framer = new PacketFramer();
    conn.on('data', (chunk: Buffer) => {
      for (const { header } of framer.push(chunk)) {
        if (header.type !== PacketType.CALL) continue;
        countCall();
        const reply = (body: Uint8Array) =>
          conn.write(encodePacket({ ...header, type: PacketType.REPLY, status: PacketStatus.OK }, body));
        if (mode === 'partial') {
          // A length word announcing a full reply, and a few bytes of it.
          const full = encodePacket({ ...header, type: PacketType.REPLY, status: PacketStatus.OK }, new Uint8Array(64));
          conn.write(full.subarray(0, 10));
        } else if (mode === 'stalls-after-handshake' && header.procedure === PROC_AUTH_LIST) {
          reply(xdr.encode(protocol.remote_auth_list_ret, { types: [0] }));
        } else if (mode === 'stalls-after-handshake' && header.procedure === PROC_CONNECT_OPEN) {
          reply(new Uint8Array(0));
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });
  return {
    uri: `qemu:///system?socket=${encodeURIComponent(socket)}`,
    socket,
    get connections() {
      return state.connections;
    },
    get calls() {
      return state.calls;
    },
    get pingsSent() {
      return state.pingsSent;
    },
    receivedCalls(count) {
      if (state.calls >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    async close() {
      for (const conn of sockets) conn.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
