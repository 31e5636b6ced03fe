/**
 * The instance flows end to end: instance service → task manager → fake provider → fake guest over the real
 * embedded broker (aedes, mutual TLS, ACLs, real guest certificates) → conductor → status events. Every
 * failure path must end in its own error task status with a fault naming the step.
 * Needs nothing beyond npm deps (the embedded broker runs in-process).
 */
import type { ControlPlane } from '@corral/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, idle, startEnv, type TestEnv, until } from './harness.js';

describe('instance flows over the embedded broker', () => {
  let env: TestEnv;
  let plane: ControlPlane;

  beforeAll(async () => {
    env = await startEnv();
    plane = await env.startPlane();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('create returns BUILD at once, then ends ACTIVE (service HEALTHY) with task NONE', async () => {
    const view = await create(plane, 'db-create');
    expect(view.status).toBe('BUILD');
    expect(view.taskStatus).toBe('BUILDING');
    expect(view.serviceStatus).toBe('NEW');
    const done = await until(plane, view.id, idle);
    expect(done.taskStatus).toBe('NONE');
    expect(done.serviceStatus).toBe('HEALTHY');
    expect(done.status).toBe('ACTIVE');
    expect(done.serverId).toBeTruthy();
    expect(done.fault).toBeNull();
    const certs = await env.store.listGuestCertificates({ guestId: view.id });
    expect(certs.filter((c) => !c.revoked)).toHaveLength(1);
  });

  it('rejects a bad request naming the field', async () => {
    await expect(create(plane, 'db-bad', { flavor: 'huge' })).rejects.toThrow(/flavor/);
    await expect(create(plane, 'db-bad', { datastore: { type: 'nosuch' } })).rejects.toThrow(/nosuch/);
    await expect(create(plane, 'db-bad', { configuration: { maxclients: 0 } })).rejects.toThrow(/maxclients/);
    await expect(create(plane, 'bad name!')).rejects.toThrow(/name/);
  });

  it('delete stops, deletes the server, revokes the certificate and marks the instance deleted', async () => {
    const view = await create(plane, 'db-delete');
    await expect(plane.instances.delete(view.id)).rejects.toMatchObject({ code: 'INSTANCE_BUSY' });
    const ready = await until(plane, view.id, idle);
    const serverId = ready.serverId as string;
    await plane.instances.delete(view.id);
    const gone = await until(plane, view.id, (v) => v.deletedAt !== null);
    expect(gone.status).toBe('DELETED');
    expect(env.provider.resources().filter((r) => r.includes(serverId))).toEqual([]);
    const certs = await env.store.listGuestCertificates({ guestId: view.id });
    expect(certs.length).toBeGreaterThan(0);
    expect(certs.every((c) => c.revoked)).toBe(true);
    expect(certs.every((c) => env.revocations.isRevoked(c.serial))).toBe(true);
    await expect(plane.instances.get(view.id)).rejects.toMatchObject({ code: 'INSTANCE_NOT_FOUND' });
  });

  it('a forced delete during the build cancels the create and leaves nothing behind', async () => {
    const view = await create(plane, 'db-force-delete');
    await expect(plane.instances.delete(view.id)).rejects.toMatchObject({ code: 'INSTANCE_BUSY' });
    await plane.instances.delete(view.id, { force: true });
    await until(plane, view.id, (v) => v.deletedAt !== null && v.taskStatus === 'NONE');
    const tasks = await env.store.listTasks({ instanceId: view.id });
    expect(tasks.map((t) => [t.kind, t.state])).toEqual([
      ['create', 'cancelled'],
      ['delete', 'succeeded'],
    ]);
    expect((await env.provider.listServers()).some((s) => s.name === 'db-force-delete')).toBe(false);
    expect(await env.store.listGuestCertificates({ guestId: view.id, revoked: false })).toEqual([]);
  });

  it('restart goes through the guest and ends HEALTHY again', async () => {
    const view = await create(plane, 'db-restart');
    await until(plane, view.id, idle);
    const restarting = await plane.instances.restart(view.id);
    expect(restarting.status).toBe('REBOOT');
    const done = await until(plane, view.id, idle);
    expect(done.taskStatus).toBe('NONE');
    expect(done.serviceStatus).toBe('HEALTHY');
  });

  it('reboot restarts the server; the guest comes back with a new boot and ends HEALTHY', async () => {
    const view = await create(plane, 'db-reboot');
    const before = await until(plane, view.id, idle);
    const bootBefore = (await env.store.getInstance(view.id)).lastBootId;
    await plane.instances.reboot(view.id);
    const done = await until(plane, view.id, idle);
    expect(done.taskStatus).toBe('NONE');
    expect(done.serviceStatus).toBe('HEALTHY');
    expect((await env.store.getInstance(view.id)).lastBootId).not.toBe(bootBefore);
    expect(done.serverId).toBe(before.serverId);
  });

  it('resize moves to the new flavor and ends HEALTHY', async () => {
    const view = await create(plane, 'db-resize');
    await until(plane, view.id, idle);
    await expect(plane.instances.resize(view.id, 'nosuch')).rejects.toThrow(/flavor/);
    const resizing = await plane.instances.resize(view.id, 'medium');
    expect(resizing.status).toBe('RESIZE');
    const done = await until(plane, view.id, idle);
    expect(done.taskStatus).toBe('NONE');
    expect(done.flavor).toBe('medium');
    expect((await env.provider.getServer(done.serverId as string)).flavor).toBe('f-medium');
  });

  it('configuration: dynamic overrides apply, static ones leave RESTART_REQUIRED', async () => {
    const view = await create(plane, 'db-config');
    await until(plane, view.id, idle);
    await expect(plane.instances.updateConfiguration(view.id, { nosuch: 1 })).rejects.toThrow(/nosuch/);
    await plane.instances.updateConfiguration(view.id, { maxclients: 100 });
    const live = await until(plane, view.id, idle);
    expect(live.taskStatus).toBe('NONE');
    expect(live.configurationOverrides).toMatchObject({ maxclients: 100 });
    await plane.instances.updateConfiguration(view.id, { databases: 32 });
    const pending = await until(plane, view.id, idle);
    expect(pending.taskStatus).toBe('RESTART_REQUIRED');
    expect(pending.status).toBe('RESTART_REQUIRED');
    await plane.instances.restart(view.id);
    expect((await until(plane, view.id, idle)).taskStatus).toBe('NONE');
  });

  it('lists by status and datastore, paged', async () => {
    const all = await plane.instances.list({ datastore: 'redis', limit: 2 });
    expect(all.items).toHaveLength(2);
    expect(all.nextAfter).toBeDefined();
    const next = await plane.instances.list({ datastore: 'redis', limit: 2, after: all.nextAfter });
    expect(next.items[0]?.id).not.toBe(all.items[0]?.id);
    const healthy = await plane.instances.list({ status: 'ACTIVE', limit: 100 });
    expect(healthy.items.length).toBeGreaterThan(0);
    expect(healthy.items.every((v) => v.status === 'ACTIVE')).toBe(true);
    expect((await plane.instances.list({ datastore: 'postgresql' })).items).toHaveLength(0);
  });

  describe('failure paths', () => {
    const cases = [
      { name: 'db-fail-build', taskStatus: 'BUILDING_ERROR_SERVER', message: /No valid host/ },
      { name: 'db-fail-quota', taskStatus: 'BUILDING_ERROR_PROVIDER', message: /quota/ },
      { name: 'db-prepare-fails', taskStatus: 'BUILDING_ERROR_PREPARE', message: /FAILED/ },
      { name: 'db-never-connects', taskStatus: 'BUILDING_ERROR_TIMEOUT_GA', message: /timed out/ },
    ];
    for (const c of cases) {
      it(`${c.name} ends ${c.taskStatus} with a fault`, async () => {
        const view = await create(plane, c.name);
        const done = await until(plane, view.id, idle);
        expect(done.taskStatus).toBe(c.taskStatus);
        expect(done.status).toBe('ERROR');
        expect(done.fault?.message).toMatch(c.message);
        expect(done.fault?.step).toBeTruthy();
        expect(done.fault?.time).toBeGreaterThan(0);
        // An instance in error can still be deleted, and nothing is left behind.
        await plane.instances.delete(view.id);
        await until(plane, view.id, (v) => v.deletedAt !== null);
        const certs = await env.store.listGuestCertificates({ guestId: view.id });
        expect(certs.every((cert) => cert.revoked)).toBe(true);
        expect((await env.provider.listServers()).some((s) => s.name === c.name)).toBe(false);
      });
    }

    it('restart that the guest refuses ends RESTART_ERROR', async () => {
      const view = await create(plane, 'db-restart-fails');
      await until(plane, view.id, idle);
      await plane.instances.restart(view.id);
      const done = await until(plane, view.id, idle);
      expect(done.taskStatus).toBe('RESTART_ERROR');
      expect(done.fault?.step).toBe('restart-datastore');
    });

    it('reboot whose guest never returns ends REBOOT_ERROR', async () => {
      const view = await create(plane, 'db-no-reboot-return');
      await until(plane, view.id, idle);
      await plane.instances.reboot(view.id);
      const done = await until(plane, view.id, idle);
      expect(done.taskStatus).toBe('REBOOT_ERROR');
      expect(done.fault?.step).toBe('await-healthy');
    });

    it('a create whose answer was lost (503 after the server was made) finds it again: one server', async () => {
      const view = await create(plane, 'db-fail-create');
      const done = await until(plane, view.id, idle);
      expect(done.taskStatus).toBe('NONE');
      expect((await env.provider.listServers()).filter((s) => s.name === 'db-fail-create')).toHaveLength(1);
    });

    it('a rate-limited create is retried after the provider says', async () => {
      const view = await create(plane, 'db-rate-limit');
      expect((await until(plane, view.id, idle)).taskStatus).toBe('NONE');
    });

    it('reboot whose server goes to ERROR fails fast with the provider fault', async () => {
      const view = await create(plane, 'db-fail-reboot');
      await until(plane, view.id, idle);
      await plane.instances.reboot(view.id);
      const done = await until(plane, view.id, idle);
      expect(done.taskStatus).toBe('REBOOT_ERROR');
      // The provider's own fault, not the wait's deadline ("timed out …"): the wait failed fast on ERROR.
      expect(done.fault?.message).toMatch(/did not come back/);
      expect(done.fault?.details).toContain('"code":500');
    });

    it('delete the provider cannot do ends DELETE_ERROR', async () => {
      const view = await create(plane, 'db-fail-delete');
      await until(plane, view.id, idle);
      await plane.instances.delete(view.id);
      const done = await until(plane, view.id, idle);
      expect(done.taskStatus).toBe('DELETE_ERROR');
      expect(done.fault?.step).toBe('delete-server');
    });

    it('a delete is not blocked by a guest that never answers stop', async () => {
      const view = await create(plane, 'db-stop-hangs');
      await until(plane, view.id, idle);
      await plane.instances.delete(view.id);
      await until(plane, view.id, (v) => v.deletedAt !== null);
    });
  });

  it('status changes stream to callers', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const view = await create(plane, 'db-watch');
    const watching = (async () => {
      for await (const change of plane.instances.watch({ instanceId: view.id, signal: controller.signal })) {
        seen.push(change.status);
        if (change.status === 'ACTIVE') break;
      }
    })();
    await until(plane, view.id, idle);
    await watching;
    controller.abort();
    expect(seen[0]).toBe('BUILD');
    expect(seen.at(-1)).toBe('ACTIVE');
  });
});
