/**
 * Agent crash during prepare: the fake guest (real protocol, real certificate) is killed while prepare runs.
 * Restarted (as systemd restarts corral-agent), the guest's new boot gets prepare again and the instance ends
 * ACTIVE; never restarted, the create ends in an error with a fault; a prepare that fails ends in an error with
 * a fault. Deleting them leaves no server, artifact or unrevoked certificate.
 * The guest here is the in-process fake agent; a real `corral-agent` process killed mid-prepare:
 * test/faults/agent-kill-real.test.ts.
 * Embedded aedes + in-memory store (test/control-plane/harness.ts); no setup script.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from '@corral/core';
import type { FakeGuestFleetOptions } from '@corral/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, FAST, idle, until } from '../control-plane/harness.js';
import { type FaultEnv, startFaultEnv } from './env.js';
import { allInstances, checkInvariant } from './invariant.js';

describe('agent crash during prepare', () => {
  let env: FaultEnv;
  let plane: ControlPlane;

  beforeAll(async () => {
    env = await startFaultEnv();
    // Prepare lasts long enough to be interrupted deterministically (the harness's fleet takes 20 ms). The
    // fleet keeps its options as given; guests booted from now on read the new duration.
    (env.fleet as unknown as { options: FakeGuestFleetOptions }).options.prepareMs = 1_500;
    plane = await env.startPlane({ timeouts: { ...FAST.timeouts, buildMs: 6_000 } });
  });
  afterAll(async () => {
    await env?.close();
  });

  const settled = (id: string) =>
    until(plane, id, (v) => idle(v) && (v.status === 'ACTIVE' || v.taskStatus.includes('ERROR')), 20_000);

  /** Waits until the guest of `instanceId` is inside prepare (it reported BUILDING); returns its server id. */
  async function inPrepare(instanceId: string): Promise<string> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      for (const [serverId, guest] of env.fleet.guests) {
        if (guest.instanceId === instanceId && guest.status === 'BUILDING') return serverId;
      }
      await sleep(10);
    }
    throw new Error(`guest of ${instanceId} never entered prepare`);
  }

  it('killed mid-prepare and restarted: prepared again on its new boot, ACTIVE; one server', async () => {
    const view = await create(plane, 'crash-restarted');
    const serverId = await inPrepare(view.id);
    await env.fleet.reboot(serverId);
    const done = await settled(view.id);
    // The restarted guest comes back unprepared on a new boot; the create task sends it prepare again.
    console.log(`[faults] fake agent restarted mid-prepare ended ${done.status} (${done.taskStatus})`);
    expect(done.status, done.fault?.message).toBe('ACTIVE');
    expect((await env.provider.listServers()).filter((s) => s.name === 'crash-restarted')).toHaveLength(1);
  });

  it('killed mid-prepare and never back: an error with a fault', async () => {
    const view = await create(plane, 'crash-gone');
    await env.fleet.kill(await inPrepare(view.id));
    const done = await settled(view.id);
    expect(done.taskStatus).toMatch(/ERROR/);
    expect(done.fault?.message).toBeTruthy();
  });

  it('a prepare that fails: an error with a fault', async () => {
    const done = await settled((await create(plane, 'crash-prepare-fails')).id);
    expect(done.taskStatus).toMatch(/ERROR/);
    expect(done.fault?.message).toBeTruthy();
  });

  it('the invariant holds, and after deleting all nothing is left', async () => {
    const before = await checkInvariant(env);
    expect(before.active + before.errored).toBe(3);
    expect(before).toMatchObject({ active: 1, errored: 2 });
    expect(before.servers).toBe(3);
    const live = (await allInstances(env)).filter((i) => i.deletedAt === null);
    await Promise.all(live.map((i) => plane.instances.delete(i.id)));
    const gone = await Promise.all(
      live.map((i) => until(plane, i.id, (v) => v.deletedAt !== null || v.taskStatus === 'DELETE_ERROR', 15_000)),
    );
    for (const view of gone) expect(view.deletedAt, JSON.stringify(view)).not.toBeNull();
    const report = await checkInvariant(env);
    console.log(`[faults] agent crash: ${JSON.stringify(report)}`);
    expect(report).toMatchObject({ active: 0, errored: 0, deleted: 3, servers: 0 });
    expect(env.provider.resources()).toEqual([]);
  });
});
