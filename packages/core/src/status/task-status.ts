import * as z from 'zod';
import { defineStatuses } from './define.js';

/**
 * What the task manager is doing to an instance (Trove's `InstanceTasks`). `action` groups a status with
 * its error outcomes; `isError` marks the terminal failures of a task, which always show as ERROR.
 * Codes follow Trove's (trove/instance/tasks.py) where Trove has the status, so operators who know Trove's
 * database recognise them; statuses of our own take codes Trove never used.
 */
export const instanceTaskActions = [
  'none',
  'building',
  'deleting',
  'rebooting',
  'restarting',
  'resizing',
  'upgrading',
  'restart_required',
  'updating_configuration',
] as const;
export type InstanceTaskAction = (typeof instanceTaskActions)[number];

export interface InstanceTaskEntry {
  readonly code: number;
  readonly action: InstanceTaskAction;
  readonly isError: boolean;
  readonly description: string;
}

const task = (code: number, action: InstanceTaskAction, description: string): InstanceTaskEntry => ({
  code,
  action,
  isError: false,
  description,
});
const failed = (code: number, action: InstanceTaskAction, description: string): InstanceTaskEntry => ({
  code,
  action,
  isError: true,
  description,
});

const defined = defineStatuses('instance task status', {
  NONE: task(0x01, 'none', 'No task is running.'),
  DELETING: task(0x02, 'deleting', 'Deleting the instance.'),
  REBOOTING: task(0x03, 'rebooting', 'Rebooting the server.'),
  RESIZING: task(0x04, 'resizing', 'Resizing the server to another flavor.'),
  BUILDING: task(0x05, 'building', 'Building the server and preparing the datastore.'),
  RESTART_REQUIRED: task(0x07, 'restart_required', 'A configuration change waits for a datastore restart.'),
  // Trove restarts the datastore under REBOOTING; a separate status says which of the two is happening.
  RESTARTING: task(0x0d, 'restarting', 'Restarting the datastore service.'),
  UPDATING_CONFIGURATION: task(0x0e, 'updating_configuration', 'Applying configuration overrides.'),
  UPGRADING: task(0x59, 'upgrading', 'Upgrading the datastore.'),

  BUILDING_ERROR_DNS: failed(0x50, 'building', 'Build error: DNS.'),
  BUILDING_ERROR_SERVER: failed(0x51, 'building', 'Build error: the server did not become active.'),
  BUILDING_ERROR_VOLUME: failed(0x52, 'building', 'Build error: the volume.'),
  UPGRADE_ERROR: failed(0x5a, 'upgrading', 'Upgrade error.'),
  BUILDING_ERROR_TIMEOUT_GA: failed(0x5b, 'building', 'Build error: the guest agent did not report in time.'),
  BUILDING_ERROR_PREPARE: failed(0x70, 'building', 'Build error: the guest agent failed to prepare the datastore.'),
  BUILDING_ERROR_PROVIDER: failed(0x71, 'building', 'Build error: the provider refused the request.'),
  DELETE_ERROR: failed(0x72, 'deleting', 'Delete error: the server could not be deleted.'),
  REBOOT_ERROR: failed(0x73, 'rebooting', 'Reboot error.'),
  RESIZE_ERROR: failed(0x74, 'resizing', 'Resize error.'),
  RESTART_ERROR: failed(0x75, 'restarting', 'Datastore restart error.'),
  UPDATE_CONFIGURATION_ERROR: failed(0x76, 'updating_configuration', 'Configuration update error.'),
});

export const instanceTaskStatuses = defined.table;
export const instanceTaskStatusNames = defined.names;
export const InstanceTaskStatus = z.enum(instanceTaskStatusNames);
export type InstanceTaskStatus = z.infer<typeof InstanceTaskStatus>;
export const instanceTaskStatusByCode = defined.byCode;

export function instanceTaskStatus(
  name: InstanceTaskStatus,
): InstanceTaskEntry & { readonly name: InstanceTaskStatus } {
  return instanceTaskStatuses[name];
}
