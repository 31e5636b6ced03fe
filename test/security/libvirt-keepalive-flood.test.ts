/**
 * A daemon that floods the libvirt client with keepalive PINGs and never reads (issue #22, item 8). Each PING
 * makes the client queue a PONG; with nobody reading, that queue once grew to 1.3-1.7 GB. The client must
 * keep what it queues under `maxWriteQueueBytes` and close the connection with WriteQueueFullError.
 * The daemon is test/faults/hostile-libvirtd.ts on a unix socket in a temporary directory; no setup script.
 */
import net from 'node:net';
import {
  ConnectionClosedError,
  DEFAULT_MAX_WRITE_QUEUE_BYTES,
  openRemote,
  PACKET_HEADER_SIZE,
  RpcClient,
  WriteQueueFullError,
} from '@corral/provider-libvirt';
import { afterEach, describe, expect, it } from 'vitest';
import { type HostileLibvirtd, startHostileLibvirtd } from '../faults/hostile-libvirtd.js';

/** How much the daemon may send before a client that has not closed counts as buffering without bound. */
const FLOOD_BYTES = 4 * DEFAULT_MAX_WRITE_QUEUE_BYTES;

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('the libvirt client flooded with keepalive pings by a daemon that never reads', () => {
  let daemon: HostileLibvirtd;
  afterEach(async () => {
    await daemon.close();
  });

  it('keeps its queue bounded and closes the connection with WriteQueueFullError', async () => {
    daemon = await startHostileLibvirtd('keepalive-flood');
    const socket = net.connect(daemon.socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    const client = new RpcClient(socket); // default options
    let closedWith: ConnectionClosedError | undefined;
    client.onClose((error) => {
      closedWith = error;
    });
    let mostQueued = 0;
    socket.on('data', () => {
      mostQueued = Math.max(mostQueued, client.queuedBytes);
    });
    await until(() => closedWith !== undefined || daemon.pingsSent * PACKET_HEADER_SIZE >= FLOOD_BYTES);
    expect(closedWith).toBeInstanceOf(WriteQueueFullError);
    expect(closedWith?.code).toBe('WRITE_QUEUE_FULL');
    expect(closedWith?.message).toMatch(/libvirtd stopped reading/);
    // The bound, plus at most the one packet that was queued below it.
    expect(mostQueued).toBeLessThanOrEqual(DEFAULT_MAX_WRITE_QUEUE_BYTES + PACKET_HEADER_SIZE);
    expect(socket.destroyed).toBe(true);
  });

  it('fails the handshake of openRemote with ConnectionClosedError caused by WriteQueueFullError (64 KiB bound)', async () => {
    daemon = await startHostileLibvirtd('keepalive-flood');
    const error = await openRemote(daemon.uri, { maxWriteQueueBytes: 64 * 1024 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConnectionClosedError);
    expect((error as Error).message).toMatch(/auth_list failed: libvirtd stopped reading/);
    expect((error as Error).cause).toBeInstanceOf(WriteQueueFullError);
  });
});
