import type { Instance } from '../../instance/models.js';
import { LeaseLostError, StoreNotFoundError } from '../../store/errors.js';
import type { Store } from '../../store/types.js';
import type { JsonObject } from '../models.js';
import type { FlowInstance, InstancePort, ServiceStatusMark } from './deps.js';
import type { ClaimedTask, TaskQueue } from './ports.js';

/** The task manager's ports over the one Store interface (memory, SQLite or PostgreSQL). */

/** Checkpoint data goes through JSON: undefined fields drop out, and what is stored is what a resume reads. */
function toJson(data: Record<string, unknown>): JsonObject {
  return JSON.parse(JSON.stringify(data)) as JsonObject;
}

async function owned<T>(write: () => Promise<T>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if (error instanceof LeaseLostError) return false;
    throw error;
  }
}

export function storeTaskQueue(store: Store): TaskQueue {
  return {
    async claim(workerId, leaseMs): Promise<ClaimedTask | undefined> {
      const task = await store.claimNextTask({ owner: workerId, leaseMs });
      if (task === undefined) return undefined;
      return {
        id: task.id,
        instanceId: task.instanceId,
        kind: task.kind,
        params: task.args,
        step: task.step === 'start' ? null : task.step,
        data: task.checkpoint,
        attempts: task.attempts,
      };
    },
    renew: (taskId, workerId, leaseMs) => owned(() => store.renewLease(taskId, { owner: workerId, leaseMs })),
    checkpoint: (taskId, workerId, step, data) =>
      owned(() => store.checkpointTask(taskId, { owner: workerId, step, data: toJson(data) })),
    finish: (taskId, workerId, outcome) =>
      owned(() =>
        outcome.ok
          ? store.completeTask(taskId, {
              owner: workerId,
              instancePatch: { taskStatus: outcome.taskStatus as Instance['taskStatus'], fault: null },
            })
          : store.failTask(taskId, {
              owner: workerId,
              error: { message: outcome.fault.message, step: outcome.fault.step },
              instancePatch: {
                taskStatus: outcome.taskStatus as Instance['taskStatus'],
                fault: {
                  message: outcome.fault.message,
                  details: outcome.fault.details,
                  step: outcome.fault.step,
                  time: outcome.fault.time,
                },
              },
            }),
      ),
  };
}

export function storeInstancePort(store: Store, manager: (datastore: Instance['datastore']) => string): InstancePort {
  return {
    async get(id): Promise<FlowInstance | undefined> {
      const instance = await store.findInstance(id, { includeDeleted: true });
      if (instance === undefined) return undefined;
      return {
        id: instance.id,
        name: instance.name,
        provider: instance.provider,
        flavor: instance.flavor,
        image: instance.image,
        volumeSizeGb: instance.volumeSizeGb ?? undefined,
        datastore: { manager: manager(instance.datastore), version: instance.datastore.version },
        configuration: instance.configurationOverrides,
        serverId: instance.serverId,
      };
    },
    async update(id, patch) {
      await store.updateInstance(id, patch);
    },
    async serviceStatus(id): Promise<ServiceStatusMark | undefined> {
      const instance = await store.findInstance(id, { includeDeleted: true });
      if (instance === undefined) return undefined;
      return { status: instance.serviceStatus, bootId: instance.lastBootId, seq: instance.lastSeq };
    },
    async markDeleted(id) {
      try {
        const instance = await store.getInstance(id, { includeDeleted: true });
        if (instance.deletedAt !== null) return;
        await store.updateInstance(id, { deletedAt: Date.now(), serviceStatus: 'DELETED', serverStatus: 'DELETED' });
      } catch (error) {
        if (!(error instanceof StoreNotFoundError)) throw error;
      }
    },
  };
}
