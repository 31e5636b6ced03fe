/**
 * The embedded control plane restarted on the same state dir, with the default broker port (0): its guests'
 * seeds name the port chosen on the first start, so the restart must listen there again.
 *   - a guest that is ACTIVE reconnects (to the URL in its seed, as corral-agent does) and the instance stays
 *     ACTIVE well past the point where a silent guest would be marked FAILED_TIMEOUT_GUESTAGENT;
 *   - a guest caught in the middle of prepare finishes it and the instance ends ACTIVE;
 *   - a port kept for guests but taken by another process is a clear error, not a silent new port.
 * The guests are core's FakeGuest (the real protocol, real certificates) reading the seed the task manager
 * wrote for the FakeProvider; guests "reach the host" at 127.0.0.1, where the broker listens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type EmbeddedControlPlane,
  EndpointPortInUseError,
  type InstanceView,
  type StartEmbeddedOptions,
  startEmbeddedControlPlane,
} from '@corral/core';
import { FakeGuest, FakeProvider } from '@corral/core/testing';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const EXPIRY_MS = 2_000;

describe('embedded control plane restarted on the same state dir', () => {
  let dir: string;
  let provider: FakeProvider;
  let options: StartEmbeddedOptions;
  let embedded: EmbeddedControlPlane | undefined;
  const guests: FakeGuest[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'corral-embedded-restart-'));
    provider = new FakeProvider({ buildMs: 20 });
    options = {
      stateDir: join(dir, 'state'),
      providers: { fake: provider },
      guestHostAddress: '127.0.0.1',
      logger: pino({ level: process.env.CORRAL_TEST_LOG ?? 'silent' }),
      controlPlane: {
        heartbeat: { intervalSeconds: 0.2, expiryMs: EXPIRY_MS, sweepIntervalMs: 100 },
        lease: { leaseMs: 1_000, idleMs: 100 },
        timeouts: { buildMs: 30_000, recoverMs: 30_000, guestCallMs: 2_000, providerPollMs: 50 },
      },
    };
  });

  afterAll(async () => {
    for (const guest of guests) await guest.stop({ death: false }).catch(() => undefined);
    await embedded?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Creates an instance and boots its guest from the seed the task manager wrote (the seed's broker URL). */
  async function createWithGuest(plane: EmbeddedControlPlane, name: string, prepareMs: number) {
    const { instances } = plane.controlPlane;
    const created = await instances.create({ name, flavor: 'small', datastore: { type: 'redis' } });
    const withServer = await instances.waitFor(created.id, (v) => v.serverId !== null, { timeoutMs: 15_000 });
    const guest = new FakeGuest({ userData: provider.bootstrapOf(withServer.serverId as string), name, prepareMs });
    guests.push(guest);
    await guest.start();
    return { id: created.id, guest };
  }

  const lastSeen = async (id: string) => (await embedded!.store.getInstance(id)).lastSeenAt ?? 0;

  it('keeps the broker port: an ACTIVE guest reconnects and stays ACTIVE, a mid-prepare one finishes', {
    timeout: 90_000,
  }, async () => {
    embedded = await startEmbeddedControlPlane(options);
    const firstPort = embedded.broker.port;
    const { instances } = embedded.controlPlane;
    const steady = await createWithGuest(embedded, 'steady', 20);
    await instances.waitFor(steady.id, (v) => v.status === 'ACTIVE', { timeoutMs: 20_000 });
    // Long enough a prepare that the restart lands inside it.
    const preparing = await createWithGuest(embedded, 'preparing', 4_000);
    await instances.waitFor(preparing.id, (v) => v.serviceStatus === 'BUILDING', { timeoutMs: 20_000 });

    await embedded.close();
    embedded = undefined;
    const restartedAt = Date.now();
    embedded = await startEmbeddedControlPlane(options);
    expect(embedded.broker.port).toBe(firstPort);
    expect(embedded.guestBrokerUrl).toBe(`mqtts://127.0.0.1:${firstPort}`);
    const again = embedded.controlPlane.instances;

    // Heartbeats through the new broker for longer than a silent guest would be given: still ACTIVE.
    await until('the steady guest to be heard past the expiry', 30_000, async () =>
      (await lastSeen(steady.id)) > restartedAt + EXPIRY_MS + 500 ? true : undefined,
    );
    const steadyView: InstanceView = await again.get(steady.id);
    expect({ status: steadyView.status, fault: steadyView.fault }).toEqual({ status: 'ACTIVE', fault: null });
    expect(steady.guest.connected).toBe(true);

    const finished = await again.waitFor(preparing.id, (v) => v.status === 'ACTIVE' || v.status === 'ERROR', {
      timeoutMs: 30_000,
    });
    expect({ status: finished.status, taskStatus: finished.taskStatus, fault: finished.fault }).toEqual({
      status: 'ACTIVE',
      taskStatus: 'NONE',
      fault: null,
    });
  });

  it('refuses to start when another process holds the port its guests know', { timeout: 30_000 }, async () => {
    const port = embedded!.broker.port;
    await embedded!.close();
    embedded = undefined;
    // The guests keep dialling the port: the squatter hangs up on them.
    const squatter: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      await expect(startEmbeddedControlPlane(options)).rejects.toThrow(EndpointPortInUseError);
      await expect(startEmbeddedControlPlane(options)).rejects.toThrow(new RegExp(`port ${port} is in use`));
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
    embedded = await startEmbeddedControlPlane(options);
    expect(embedded.broker.port).toBe(port);
  });
});

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
