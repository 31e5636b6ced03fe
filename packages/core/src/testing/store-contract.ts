import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../errors/index.js';
import { LeaseLostError, StoreConflictError, StoreNotFoundError } from '../store/errors.js';
import type { Store, StoreEvent } from '../store/types.js';
import { ManualClock, sampleInstance, sampleTask } from './samples.js';

/** A public key fingerprint (SPKI sha256, hex) as enrolment records it. */
const KEY = 'ab'.repeat(32);

/** What a store implementation gives the suite for one test: a store on an empty database. */
export interface StoreUnderTest {
  store: Store;
  /**
   * A second store on the same database through its own connection (another process's view), for the
   * races. Without it the races run on `store` alone.
   */
  peer?: Store;
  /** Closes `store` and opens it again on the same data (durable stores). */
  reopen?: () => Promise<Store>;
  /** Closes everything and removes the database. */
  close(): Promise<void>;
}

/**
 * The conformance suite every Store implementation passes. `open` is called before each test with the
 * suite's clock and must return a store on an empty database.
 */
export function describeStoreContract(
  name: string,
  open: (clock: () => number) => Promise<StoreUnderTest>,
  options: { durable?: boolean } = {},
): void {
  describe(`Store contract: ${name}`, () => {
    let clock: ManualClock;
    let subject: StoreUnderTest;
    let store: Store;

    beforeEach(async () => {
      clock = new ManualClock();
      subject = await open(clock.read);
      store = subject.store;
    });
    afterEach(async () => {
      await subject?.close();
    });

    describe('instances', () => {
      it('creates an instance and its first task in one step', async () => {
        const { instance, task } = await store.createInstance(sampleInstance('i1'), sampleTask('t1', 'i1'));
        expect(instance).toMatchObject({
          id: 'i1',
          guestId: 'i1',
          version: 1,
          taskStatus: 'BUILDING',
          serviceStatus: 'NEW',
          serverId: null,
          serverStatus: null,
          volumeSizeGb: null,
          fault: null,
          configurationOverrides: {},
          createdAt: clock.now,
          deletedAt: null,
        });
        expect(task).toMatchObject({ id: 't1', state: 'pending', step: 'start', attempts: 0, version: 1 });
        expect(await store.getInstance('i1')).toEqual(instance);
        expect(await store.getTask('t1')).toEqual(task);
      });

      it('writes nothing when any part of the create fails', async () => {
        await store.createInstance(sampleInstance('i1'));
        await expect(store.createInstance(sampleInstance('i1'), sampleTask('t-orphan', 'i1'))).rejects.toBeInstanceOf(
          StoreConflictError,
        );
        await expect(store.getTask('t-orphan')).rejects.toBeInstanceOf(StoreNotFoundError);

        await store.createInstance(sampleInstance('i2'), sampleTask('t2', 'i2'));
        await expect(store.createInstance(sampleInstance('i3'), sampleTask('t2', 'i3'))).rejects.toBeInstanceOf(
          StoreConflictError,
        );
        expect(await store.findInstance('i3')).toBeUndefined();
      });

      it('refuses bad input, naming the field and the rule', async () => {
        const error = await store
          .createInstance({ ...sampleInstance('i1'), flavor: '', datastore: { type: 'redis' } as never })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).issues.map((i) => i.path)).toEqual(['flavor', 'datastore.version']);
        expect((error as ValidationError).message).toMatch(/flavor: Too small/);
        await expect(store.createInstance(sampleInstance('i1'), sampleTask('t1', 'other'))).rejects.toThrow(
          /instanceId: must equal the instance id i1/,
        );
        expect(await store.findInstance('i1')).toBeUndefined();
      });

      it('reports a missing instance as not found', async () => {
        await expect(store.getInstance('nope')).rejects.toMatchObject({ code: 'STORE_NOT_FOUND', entity: 'instance' });
        expect(await store.findInstance('nope')).toBeUndefined();
        await expect(store.updateInstance('nope', { name: 'x' })).rejects.toBeInstanceOf(StoreNotFoundError);
      });

      it('updates with optimistic concurrency', async () => {
        await store.createInstance(sampleInstance('i1'));
        clock.advance(5);
        const updated = await store.updateInstance(
          'i1',
          { serverId: 's1', serverStatus: 'BUILD' },
          { expectedVersion: 1 },
        );
        expect(updated).toMatchObject({ serverId: 's1', serverStatus: 'BUILD', version: 2, updatedAt: clock.now });
        const conflict = await store.updateInstance('i1', { name: 'late' }, { expectedVersion: 1 }).catch((e) => e);
        expect(conflict).toBeInstanceOf(StoreConflictError);
        expect(conflict).toMatchObject({ code: 'STORE_CONFLICT', expectedVersion: 1, actualVersion: 2 });
        expect((await store.getInstance('i1')).name).toBe('db-i1');
        expect((await store.updateInstance('i1', { name: 'renamed' })).version).toBe(3);
        await expect(store.updateInstance('i1', { version: 9 } as never)).rejects.toThrow(/Unrecognized key/);
      });

      it('round-trips every field', async () => {
        await store.createInstance(
          sampleInstance('i1', {
            volumeSizeGb: 5,
            guestId: 'g-1',
            configurationOverrides: { maxmemory: 10, appendonly: true },
          }),
        );
        const fault = { message: 'boom', details: 'trace', step: 'create-server', time: clock.now };
        const updated = await store.updateInstance('i1', { fault, taskStatus: 'BUILDING_ERROR_SERVER' });
        expect(await store.getInstance('i1')).toEqual(updated);
        expect(updated).toMatchObject({
          volumeSizeGb: 5,
          guestId: 'g-1',
          fault,
          configurationOverrides: { maxmemory: 10, appendonly: true },
        });
      });

      it('hides deleted instances unless asked', async () => {
        await store.createInstance(sampleInstance('i1'));
        await store.updateInstance('i1', { deletedAt: clock.now, serviceStatus: 'DELETED' });
        await expect(store.getInstance('i1')).rejects.toBeInstanceOf(StoreNotFoundError);
        expect((await store.getInstance('i1', { includeDeleted: true })).serviceStatus).toBe('DELETED');
        expect((await store.listInstances()).items).toEqual([]);
        expect((await store.listInstances({ includeDeleted: true })).items.map((i) => i.id)).toEqual(['i1']);
        await expect(store.createTask(sampleTask('t-late', 'i1'))).rejects.toBeInstanceOf(StoreNotFoundError);
      });

      it('lists with filters and pages', async () => {
        for (const id of ['a1', 'a2', 'a3', 'b1', 'b2']) {
          await store.createInstance(
            sampleInstance(id, {
              projectId: id.startsWith('a') ? 'p-a' : 'p-b',
              datastore: id.endsWith('1') ? { type: 'postgresql', version: '15' } : { type: 'redis', version: '7' },
            }),
          );
        }
        await store.updateInstance('a2', { serviceStatus: 'HEALTHY', taskStatus: 'NONE' });
        const ids = (page: { items: { id: string }[] }) => page.items.map((i) => i.id);
        expect(ids(await store.listInstances({ projectId: 'p-a' }))).toEqual(['a1', 'a2', 'a3']);
        expect(ids(await store.listInstances({ datastore: 'postgresql' }))).toEqual(['a1', 'b1']);
        expect(ids(await store.listInstances({ datastore: 'redis', datastoreVersion: '7' }))).toEqual([
          'a2',
          'a3',
          'b2',
        ]);
        expect(ids(await store.listInstances({ serviceStatus: 'HEALTHY' }))).toEqual(['a2']);
        expect(ids(await store.listInstances({ serviceStatus: ['HEALTHY', 'NEW'], taskStatus: 'BUILDING' }))).toEqual([
          'a1',
          'a3',
          'b1',
          'b2',
        ]);
        expect(ids(await store.listInstances({ taskStatus: [] }))).toEqual([]);
        const first = await store.listInstances({ limit: 2 });
        expect(ids(first)).toEqual(['a1', 'a2']);
        expect(first.nextAfter).toBe('a2');
        const second = await store.listInstances({ limit: 2, after: first.nextAfter });
        expect(ids(second)).toEqual(['a3', 'b1']);
        const last = await store.listInstances({ limit: 2, after: second.nextAfter });
        expect(ids(last)).toEqual(['b2']);
        expect(last.nextAfter).toBeUndefined();
      });
    });

    describe('service status', () => {
      beforeEach(async () => {
        await store.createInstance(sampleInstance('i1'));
      });

      it('applies newer reports and refuses stale ones, by boot id and sequence', async () => {
        clock.advance(1000);
        const first = await store.applyServiceStatus({ instanceId: 'i1', bootId: 'boot-a', seq: 5, status: 'RUNNING' });
        expect(first).toEqual({
          instanceId: 'i1',
          applied: true,
          previousStatus: 'NEW',
          status: 'RUNNING',
          version: 2,
        });
        expect(await store.getInstance('i1')).toMatchObject({
          serviceStatus: 'RUNNING',
          lastSeenAt: clock.now,
          lastBootId: 'boot-a',
          lastSeq: 5,
          previousBootId: null,
          version: 2,
        });
        for (const seq of [5, 4, 0]) {
          expect(await store.applyServiceStatus({ instanceId: 'i1', bootId: 'boot-a', seq, status: 'FAILED' })).toEqual(
            {
              instanceId: 'i1',
              applied: false,
              reason: 'stale',
              previousStatus: 'RUNNING',
              status: 'RUNNING',
              version: 2,
            },
          );
        }
        expect(
          (await store.applyServiceStatus({ instanceId: 'i1', bootId: 'boot-a', seq: 6, status: 'HEALTHY' })).applied,
        ).toBe(true);
        // The guest restarted: a new boot id wins with any sequence (ids are random, so "0" < "boot-a" too).
        const restarted = await store.applyServiceStatus({
          instanceId: 'i1',
          bootId: '0-new',
          seq: 1,
          status: 'BUILDING',
        });
        expect(restarted).toMatchObject({ applied: true, previousStatus: 'HEALTHY', status: 'BUILDING' });
        // A late message from the boot that was replaced is stale, however high its sequence.
        expect(
          await store.applyServiceStatus({ instanceId: 'i1', bootId: 'boot-a', seq: 999, status: 'HEALTHY' }),
        ).toMatchObject({ applied: false, reason: 'stale' });
        expect(await store.getInstance('i1')).toMatchObject({
          serviceStatus: 'BUILDING',
          lastBootId: '0-new',
          lastSeq: 1,
          previousBootId: 'boot-a',
        });
      });

      it('takes the receive time given, never a guest clock', async () => {
        await store.applyServiceStatus({ instanceId: 'i1', bootId: 'b', seq: 1, status: 'RUNNING', receivedAt: 1234 });
        expect((await store.getInstance('i1')).lastSeenAt).toBe(1234);
      });

      it('ignores unknown and deleted instances', async () => {
        expect(await store.applyServiceStatus({ instanceId: 'ghost', bootId: 'b', seq: 1, status: 'RUNNING' })).toEqual(
          {
            instanceId: 'ghost',
            applied: false,
            reason: 'not-found',
          },
        );
        await store.updateInstance('i1', { serviceStatus: 'DELETED', deletedAt: clock.now });
        expect(
          await store.applyServiceStatus({ instanceId: 'i1', bootId: 'b', seq: 1, status: 'RUNNING' }),
        ).toMatchObject({
          applied: false,
          reason: 'deleted',
        });
      });

      it('applies a batch in order, in one transaction', async () => {
        await store.createInstance(sampleInstance('i2'));
        const results = await store.applyServiceStatuses([
          { instanceId: 'i1', bootId: 'b', seq: 1, status: 'RUNNING' },
          { instanceId: 'i2', bootId: 'c', seq: 1, status: 'HEALTHY' },
          { instanceId: 'i1', bootId: 'b', seq: 1, status: 'FAILED' },
          { instanceId: 'i1', bootId: 'b', seq: 2, status: 'HEALTHY' },
          { instanceId: 'nope', bootId: 'b', seq: 1, status: 'HEALTHY' },
        ]);
        expect(results.map((r) => `${r.instanceId}:${r.applied ? r.status : r.reason}`)).toEqual([
          'i1:RUNNING',
          'i2:HEALTHY',
          'i1:stale',
          'i1:HEALTHY',
          'nope:not-found',
        ]);
        expect((await store.getInstance('i1')).serviceStatus).toBe('HEALTHY');
        await expect(
          store.applyServiceStatuses([
            { instanceId: 'i2', bootId: 'c', seq: 2, status: 'FAILED' },
            { instanceId: 'i2', bootId: 'c', seq: -1, status: 'FAILED' },
          ]),
        ).rejects.toThrow(/service status report \[1\]: seq: Too small/);
        expect((await store.getInstance('i2')).serviceStatus).toBe('HEALTHY');
      });

      it('lists guests silent since a time, for the sweep', async () => {
        await store.createInstance(sampleInstance('i2'));
        await store.createInstance(sampleInstance('i3'));
        await store.applyServiceStatus({ instanceId: 'i1', bootId: 'b', seq: 1, status: 'HEALTHY' });
        clock.advance(60_000);
        await store.applyServiceStatus({ instanceId: 'i2', bootId: 'b', seq: 1, status: 'HEALTHY' });
        const silentSince = clock.now - 30_000;
        expect((await store.listSilentInstances({ silentSince })).map((i) => i.id)).toEqual(['i1']);
        expect((await store.listSilentInstances({ silentSince, includeNeverSeen: true })).map((i) => i.id)).toEqual([
          'i1',
          'i3',
        ]);
        const marked = await store.updateInstance('i1', { serviceStatus: 'FAILED_TIMEOUT_GUESTAGENT' });
        expect(await store.listSilentInstances({ silentSince })).toEqual([]);
        expect((await store.listSilentInstances({ silentSince, excludeServiceStatuses: [] }))[0]).toEqual(marked);
        // The guest comes back: a newer report recovers it.
        expect(
          (await store.applyServiceStatus({ instanceId: 'i1', bootId: 'b', seq: 2, status: 'HEALTHY' })).applied,
        ).toBe(true);
      });
    });

    describe('tasks', () => {
      beforeEach(async () => {
        await store.createInstance(
          sampleInstance('i1'),
          sampleTask('t1', 'i1', { args: { flavor: 'large' }, requestId: 'req-1' }),
        );
      });

      it('creates a task with an instance change, version-checked, atomically', async () => {
        await store.updateInstance('i1', { taskStatus: 'NONE' });
        const { task, instance } = await store.createTask(sampleTask('t2', 'i1', { kind: 'delete' }), {
          instancePatch: { taskStatus: 'DELETING' },
          expectedInstanceVersion: 2,
        });
        expect(task).toMatchObject({ id: 't2', kind: 'delete', state: 'pending' });
        expect(instance).toMatchObject({ taskStatus: 'DELETING', version: 3 });
        await expect(
          store.createTask(sampleTask('t3', 'i1', { kind: 'reboot' }), {
            instancePatch: { taskStatus: 'REBOOTING' },
            expectedInstanceVersion: 2,
          }),
        ).rejects.toBeInstanceOf(StoreConflictError);
        await expect(store.getTask('t3')).rejects.toBeInstanceOf(StoreNotFoundError);
        await expect(store.createTask(sampleTask('t4', 'ghost'))).rejects.toBeInstanceOf(StoreNotFoundError);
        await expect(store.createTask(sampleTask('t1', 'i1'))).rejects.toBeInstanceOf(StoreConflictError);
        expect((await store.listTasks({ instanceId: 'i1' })).map((t) => t.id)).toEqual(['t1', 't2']);
        expect((await store.listTasks({ states: ['pending'], kinds: ['delete'] })).map((t) => t.id)).toEqual(['t2']);
      });

      it('claims the oldest runnable task, once', async () => {
        clock.advance(1);
        await store.createInstance(sampleInstance('i2'), sampleTask('t2', 'i2', { kind: 'create' }));
        clock.advance(1);
        await store.createInstance(sampleInstance('i3'), sampleTask('t3', 'i3', { runAfter: clock.now + 10_000 }));
        const claimed = await store.claimNextTask({ owner: 'w1', leaseMs: 30_000 });
        expect(claimed).toMatchObject({
          id: 't1',
          state: 'running',
          leaseOwner: 'w1',
          leaseExpiresAt: clock.now + 30_000,
          attempts: 1,
          version: 2,
          args: { flavor: 'large' },
          requestId: 'req-1',
        });
        expect((await store.claimNextTask({ owner: 'w2', leaseMs: 30_000 }))?.id).toBe('t2');
        expect(await store.claimNextTask({ owner: 'w3', leaseMs: 30_000 })).toBeUndefined();
        clock.advance(10_000);
        expect(await store.claimNextTask({ owner: 'w3', leaseMs: 30_000, kinds: ['delete'] })).toBeUndefined();
        expect((await store.claimNextTask({ owner: 'w3', leaseMs: 30_000, kinds: ['create'] }))?.id).toBe('t3');
        expect(await store.claimTask('t1', { owner: 'w9', leaseMs: 1000 })).toBeUndefined();
      });

      it('lets another worker take over an expired lease; the old owner loses it', async () => {
        await store.claimTask('t1', { owner: 'w1', leaseMs: 1000 });
        clock.advance(999);
        expect(await store.claimTask('t1', { owner: 'w2', leaseMs: 1000 })).toBeUndefined();
        clock.advance(1);
        const taken = await store.claimTask('t1', { owner: 'w2', leaseMs: 1000 });
        expect(taken).toMatchObject({ leaseOwner: 'w2', attempts: 2 });
        const lost = await store.checkpointTask('t1', { owner: 'w1', step: 'create-server' }).catch((e) => e);
        expect(lost).toBeInstanceOf(LeaseLostError);
        expect(lost).toMatchObject({ code: 'LEASE_LOST', taskId: 't1', owner: 'w1' });
        await expect(store.renewLease('t1', { owner: 'w1', leaseMs: 1000 })).rejects.toBeInstanceOf(LeaseLostError);
        await expect(store.completeTask('t1', { owner: 'w1' })).rejects.toBeInstanceOf(LeaseLostError);
        const renewed = await store.renewLease('t1', { owner: 'w2', leaseMs: 5000 });
        expect(renewed.leaseExpiresAt).toBe(clock.now + 5000);
      });

      it('records checkpoints with the instance change, only for the owner, version-checked', async () => {
        const claimed = await store.claimTask('t1', { owner: 'w1', leaseMs: 1000 });
        const { task, instance } = await store.checkpointTask('t1', {
          owner: 'w1',
          step: 'wait-for-server',
          data: { serverId: 's-1', tries: [1, 2] },
          expectedVersion: claimed?.version,
          instancePatch: { serverId: 's-1', serverStatus: 'BUILD' },
          leaseMs: 60_000,
        });
        expect(task).toMatchObject({
          step: 'wait-for-server',
          checkpoint: { serverId: 's-1', tries: [1, 2] },
          version: 3,
          leaseExpiresAt: clock.now + 60_000,
        });
        expect(instance).toMatchObject({ serverId: 's-1', serverStatus: 'BUILD' });
        expect(await store.getTask('t1')).toEqual(task);
        await expect(
          store.checkpointTask('t1', { owner: 'w1', step: 'x', expectedVersion: claimed?.version }),
        ).rejects.toBeInstanceOf(StoreConflictError);
        // A failed write changes nothing, neither the task nor the instance.
        await expect(
          store.checkpointTask('t1', { owner: 'w1', step: 'y', instancePatch: { taskStatus: 'BOGUS' as never } }),
        ).rejects.toBeInstanceOf(ValidationError);
        expect((await store.getTask('t1')).step).toBe('wait-for-server');
      });

      it('completes a task and the instance together', async () => {
        await store.claimTask('t1', { owner: 'w1', leaseMs: 1000 });
        clock.advance(10);
        const { task, instance } = await store.completeTask('t1', {
          owner: 'w1',
          result: { ok: true },
          instancePatch: { taskStatus: 'NONE' },
        });
        expect(task).toMatchObject({
          state: 'succeeded',
          result: { ok: true },
          leaseOwner: null,
          finishedAt: clock.now,
        });
        expect(instance?.taskStatus).toBe('NONE');
        await expect(store.completeTask('t1', { owner: 'w1' })).rejects.toBeInstanceOf(LeaseLostError);
        expect(await store.claimTask('t1', { owner: 'w2', leaseMs: 1000 })).toBeUndefined();
      });

      it('fails a task for good, or for a retry later', async () => {
        await store.claimTask('t1', { owner: 'w1', leaseMs: 1000 });
        const retry = await store.failTask('t1', {
          owner: 'w1',
          error: { code: 'UNAVAILABLE', message: 'nova said 503' },
          retryAt: clock.now + 5000,
        });
        expect(retry.task).toMatchObject({
          state: 'pending',
          runAfter: clock.now + 5000,
          lastError: { code: 'UNAVAILABLE', message: 'nova said 503', step: 'start', time: clock.now },
          leaseOwner: null,
        });
        expect(await store.claimNextTask({ owner: 'w2', leaseMs: 1000 })).toBeUndefined();
        clock.advance(5000);
        expect(await store.claimNextTask({ owner: 'w2', leaseMs: 1000 })).toMatchObject({ id: 't1', attempts: 2 });
        const fault = { message: 'no valid host', step: 'create-server', time: clock.now };
        const { task, instance } = await store.failTask('t1', {
          owner: 'w2',
          error: { code: 'PROVISIONING_FAILED', message: 'no valid host', step: 'create-server' },
          instancePatch: { taskStatus: 'BUILDING_ERROR_SERVER', fault },
        });
        expect(task).toMatchObject({ state: 'failed', finishedAt: clock.now, lastError: { step: 'create-server' } });
        expect(instance).toMatchObject({ taskStatus: 'BUILDING_ERROR_SERVER', fault });
        await expect(store.failTask('t1', { owner: 'w2', error: { message: '' } })).rejects.toBeInstanceOf(
          ValidationError,
        );
      });

      it('releases and cancels', async () => {
        await store.claimTask('t1', { owner: 'w1', leaseMs: 1000 });
        expect(await store.releaseTask('t1', 'w1')).toMatchObject({ state: 'pending', leaseOwner: null, attempts: 1 });
        await store.claimTask('t1', { owner: 'w2', leaseMs: 1000 });
        const { task } = await store.cancelTask('t1', { reason: 'user deleted the instance' });
        expect(task).toMatchObject({
          state: 'cancelled',
          lastError: { code: 'CANCELLED', message: 'user deleted the instance' },
        });
        await expect(store.checkpointTask('t1', { owner: 'w2', step: 'x' })).rejects.toThrow(/task is cancelled/);
        await expect(store.cancelTask('t1')).rejects.toBeInstanceOf(StoreConflictError);
        await expect(store.getTask('nope')).rejects.toMatchObject({ code: 'STORE_NOT_FOUND', entity: 'task' });
      });

      it('refuses bad leases', async () => {
        await expect(store.claimNextTask({ owner: '', leaseMs: 1000 })).rejects.toThrow(/lease: owner: Too small/);
        await expect(store.claimTask('t1', { owner: 'w', leaseMs: 0 })).rejects.toThrow(/leaseMs: Too small/);
      });
    });

    describe('races', () => {
      it('two writers racing on one task: exactly one wins', async () => {
        const other = subject.peer ?? store;
        for (let round = 0; round < 10; round++) {
          await store.createInstance(sampleInstance(`r${round}`), sampleTask(`rt${round}`, `r${round}`));
          const results = await Promise.all([
            store.claimTask(`rt${round}`, { owner: 'w-a', leaseMs: 60_000 }),
            other.claimTask(`rt${round}`, { owner: 'w-b', leaseMs: 60_000 }),
          ]);
          const winners = results.filter((r) => r !== undefined);
          expect(winners).toHaveLength(1);
          expect((await store.getTask(`rt${round}`)).leaseOwner).toBe(winners[0]?.leaseOwner);
        }
      });

      it('two workers claiming next: every task goes to exactly one', async () => {
        const other = subject.peer ?? store;
        for (let i = 0; i < 12; i++) await store.createInstance(sampleInstance(`c${i}`), sampleTask(`ct${i}`, `c${i}`));
        const claims = async (s: Store, owner: string) => {
          const got: string[] = [];
          for (;;) {
            const task = await s.claimNextTask({ owner, leaseMs: 60_000 });
            if (!task) return got;
            got.push(task.id);
          }
        };
        const [a, b] = await Promise.all([claims(store, 'w-a'), claims(other, 'w-b')]);
        expect([...a, ...b].sort()).toEqual(Array.from({ length: 12 }, (_, i) => `ct${i}`).sort());
      });

      it('two writers racing on one version: exactly one update lands', async () => {
        const other = subject.peer ?? store;
        await store.createInstance(sampleInstance('v1'));
        const outcomes = await Promise.allSettled([
          store.updateInstance('v1', { name: 'from-a' }, { expectedVersion: 1 }),
          other.updateInstance('v1', { name: 'from-b' }, { expectedVersion: 1 }),
        ]);
        const fulfilled = outcomes.filter((o) => o.status === 'fulfilled');
        const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
        expect(fulfilled).toHaveLength(1);
        expect(rejected).toHaveLength(1);
        expect(rejected[0]?.reason).toBeInstanceOf(StoreConflictError);
        expect((await store.getInstance('v1')).version).toBe(2);
      });
    });

    describe('guest certificates', () => {
      it('records, revokes and lists', async () => {
        const put = await store.putGuestCertificate({ serial: '0A1B', guestId: 'g1', issuedAt: 1, notAfter: 2 });
        expect(put).toEqual({
          serial: '0a1b',
          guestId: 'g1',
          instanceId: null,
          issuedAt: 1,
          notAfter: 2,
          revoked: false,
          revokedAt: null,
          revokedReason: null,
          publicKeySha256: null,
        });
        await store.putGuestCertificate({ serial: 'ff', guestId: 'g2', instanceId: 'i9', issuedAt: 3, notAfter: 4 });
        await expect(
          store.putGuestCertificate({ serial: '0a1b', guestId: 'g1', issuedAt: 1, notAfter: 2 }),
        ).rejects.toBeInstanceOf(StoreConflictError);
        await expect(
          store.putGuestCertificate({ serial: 'xyz', guestId: 'g1', issuedAt: 1, notAfter: 2 }),
        ).rejects.toThrow(/serial: must be 1-64 hex digits/);
        const revoked = await store.revokeGuestCertificate('0A1B', 'instance deleted');
        expect(revoked).toMatchObject({ revoked: true, revokedAt: clock.now, revokedReason: 'instance deleted' });
        clock.advance(100);
        expect(await store.revokeGuestCertificate('0a1b')).toEqual(revoked);
        expect(await store.getGuestCertificate('0a1b')).toEqual(revoked);
        expect(await store.getGuestCertificate('abc')).toBeUndefined();
        await expect(store.revokeGuestCertificate('abc')).rejects.toBeInstanceOf(StoreNotFoundError);
        expect((await store.listGuestCertificates({ revoked: true })).map((c) => c.serial)).toEqual(['0a1b']);
        expect((await store.listGuestCertificates({ revoked: false })).map((c) => c.serial)).toEqual(['ff']);
        expect((await store.listGuestCertificates({ guestId: 'g2' }))[0]?.instanceId).toBe('i9');
        expect(await store.listGuestCertificates()).toHaveLength(2);
        await store.putGuestCertificate({
          serial: 'fe',
          guestId: 'g3',
          issuedAt: 1,
          notAfter: 2,
          publicKeySha256: KEY,
        });
        expect((await store.getGuestCertificate('fe'))?.publicKeySha256).toBe(KEY);
        await expect(
          store.putGuestCertificate({ serial: 'fd', guestId: 'g3', issuedAt: 1, notAfter: 2, publicKeySha256: 'x' }),
        ).rejects.toThrow(/publicKeySha256: must be 64 lowercase hex digits/);
      });

      // Enrolment's single use rests on this: a one-time token's certificate has a serial derived from the token,
      // so of several racing enrolments with one token exactly one may record it.
      it('lets exactly one of several concurrent puts of a serial succeed', async () => {
        const results = await Promise.allSettled(
          [1, 2, 3, 4].map((n) =>
            store.putGuestCertificate({ serial: '7E57', guestId: `g${n}`, instanceId: null, issuedAt: n, notAfter: 9 }),
          ),
        );
        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        for (const result of results) {
          if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(StoreConflictError);
        }
        expect(await store.listGuestCertificates()).toHaveLength(1);
      });
    });

    describe('events', () => {
      it('tells subscribers about committed changes only', async () => {
        const events: StoreEvent[] = [];
        const unsubscribe = store.subscribe((event) => events.push(event));
        await store.createInstance(sampleInstance('i1'), sampleTask('t1', 'i1'));
        await store.applyServiceStatus({ instanceId: 'i1', bootId: 'b', seq: 1, status: 'RUNNING' });
        await store.applyServiceStatus({ instanceId: 'i1', bootId: 'b', seq: 1, status: 'RUNNING' });
        await store.updateInstance('i1', { name: 'x' }, { expectedVersion: 1 }).catch(() => undefined);
        await store.claimTask('t1', { owner: 'w', leaseMs: 1000 });
        unsubscribe();
        await store.updateInstance('i1', { name: 'unseen' });
        expect(
          events.map((e) => (e.type === 'service-status' ? `${e.type}:${e.previousStatus}>${e.status}` : e.type)),
        ).toEqual(['instance', 'task', 'service-status:NEW>RUNNING', 'task']);
      });
    });

    // Only durable stores get this block (no skipped test for the others).
    if (options.durable)
      describe('durability', () => {
        it('keeps everything across a reopen', async () => {
          if (!subject.reopen) throw new Error(`${name}: a durable store must give reopen()`);
          await store.createInstance(sampleInstance('i1'), sampleTask('t1', 'i1'));
          await store.claimTask('t1', { owner: 'w1', leaseMs: 1000 });
          await store.checkpointTask('t1', { owner: 'w1', step: 'created', data: { serverId: 's' } });
          await store.putGuestCertificate({ serial: 'aa', guestId: 'i1', issuedAt: 1, notAfter: 2 });
          await store.putGuestCertificate({
            serial: 'bb',
            guestId: 'i2',
            issuedAt: 1,
            notAfter: 2,
            publicKeySha256: KEY,
          });
          const before = { instance: await store.getInstance('i1'), task: await store.getTask('t1') };
          store = await subject.reopen();
          expect(await store.getInstance('i1')).toEqual(before.instance);
          expect(await store.getTask('t1')).toEqual(before.task);
          expect((await store.getGuestCertificate('aa'))?.guestId).toBe('i1');
          expect((await store.getGuestCertificate('bb'))?.publicKeySha256).toBe(KEY);
        });
      });
  });
}
