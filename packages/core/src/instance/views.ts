import type { InstanceStatus } from '../status/composite.js';
import { compositeStatus } from '../status/composite.js';
import type { Instance, InstanceFault } from './models.js';

/**
 * What a caller sees of an instance (Trove's `instance/views.py`): the one composite status word, the three
 * statuses it is made of, and the fault when there is one. Never secrets.
 */
export interface InstanceView {
  id: string;
  name: string;
  projectId: string;
  status: InstanceStatus;
  /** How the datastore itself is doing (the service status), apart from any task. */
  operatingStatus: string | null;
  taskStatus: string;
  serverStatus: string | null;
  serviceStatus: string;
  datastore: { type: string; version: string };
  provider: string;
  flavor: string;
  volumeSizeGb: number | null;
  serverId: string | null;
  configurationOverrides: Record<string, string | number | boolean>;
  fault: InstanceFault | null;
  lastSeenAt: number | null;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
}

export function instanceView(instance: Instance): InstanceView {
  const composite =
    instance.deletedAt !== null
      ? { status: 'DELETED' as const, operatingStatus: instance.serviceStatus }
      : compositeStatus({
          taskStatus: instance.taskStatus,
          serverStatus: instance.serverStatus,
          serviceStatus: instance.serviceStatus,
        });
  return {
    id: instance.id,
    name: instance.name,
    projectId: instance.projectId,
    status: composite.status,
    operatingStatus: composite.operatingStatus,
    taskStatus: instance.taskStatus,
    serverStatus: instance.serverStatus,
    serviceStatus: instance.serviceStatus,
    datastore: { ...instance.datastore },
    provider: instance.provider,
    flavor: instance.flavor,
    volumeSizeGb: instance.volumeSizeGb,
    serverId: instance.serverId,
    configurationOverrides: { ...instance.configurationOverrides },
    fault: instance.fault,
    lastSeenAt: instance.lastSeenAt,
    createdAt: instance.createdAt,
    updatedAt: instance.updatedAt,
    deletedAt: instance.deletedAt,
  };
}
