/**
 * Broker restart under load: 12 instances are created while the broker is stopped and started again twice
 * (same port, same persistence), then half are deleted across a third restart. Every create ends ACTIVE with
 * one server, every delete finishes and revokes its certificates, and each guest's last status is the store's.
 * Runs on the embedded aedes and on a real mosquitto (test/faults/env.ts); in-memory store.
 * Needs scripts/setup/20-mosquitto.sh (mosquitto) for the second run.
 * Messaging-level restarts (outbox, reconnection) on aedes and mosquitto: test/messaging/restart.test.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from '@corral/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, FAST, idle, until } from '../control-plane/harness.js';
import { type FaultBroker, type FaultEnv, startFaultEnv } from './env.js';
import { checkInvariant } from './invariant.js';

const COUNT = 12;

describe.each(['aedes', 'mosquitto'] as FaultBroker[])('broker restart under load on %s', (broker) => {
  let env: FaultEnv;
  let plane: ControlPlane;

  beforeAll(async () => {
    env = await startFaultEnv({ broker });
    // Builds get room for the outages; guest calls and heartbeat expiry stay short.
    plane = await env.startPlane({
      timeouts: { ...FAST.timeouts, buildMs: 20_000 },
      heartbeat: { ...FAST.heartbeat, expiryMs: 5_000 },
    });
  });
  afterAll(async () => {
    await env?.close();
  });

  it(`${COUNT} creates across two restarts end ACTIVE; deletes across a third finish`, {
    timeout: 90_000,
  }, async () => {
    const creating = Array.from({ length: COUNT }, (_, i) => create(plane, `load-${i}`));
    await sleep(30);
    await env.restartBroker(400);
    const views = await Promise.all(creating);
    await sleep(150);
    await env.restartBroker(400);
    const done = await Promise.all(
      views.map((v) =>
        until(plane, v.id, (x) => idle(x) && (x.status === 'ACTIVE' || x.taskStatus.includes('ERROR')), 40_000),
      ),
    );
    expect(done.map((v) => v.status)).toEqual(done.map(() => 'ACTIVE'));
    expect(await checkInvariant(env)).toMatchObject({ active: COUNT, errored: 0, servers: COUNT });

    const doomed = views.slice(0, COUNT / 2);
    await Promise.all(doomed.map((v) => plane.instances.delete(v.id)));
    await env.restartBroker(300);
    const gone = await Promise.all(
      doomed.map((v) => until(plane, v.id, (x) => x.deletedAt !== null || x.taskStatus === 'DELETE_ERROR', 40_000)),
    );
    for (const view of gone) expect(view.deletedAt, view.name).not.toBeNull();
    // Every guest is back on the broker before the status check.
    await until(plane, views[COUNT - 1]?.id ?? '', (x) => x.status === 'ACTIVE', 10_000);
    const report = await checkInvariant(env);
    console.log(`[faults] broker restart under load on ${broker} (3 restarts): ${JSON.stringify(report)}`);
    expect(report).toMatchObject({ active: COUNT / 2, errored: 0, deleted: COUNT / 2, servers: COUNT / 2 });
  });
});
