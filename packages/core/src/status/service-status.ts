import * as z from 'zod';
import { defineStatuses } from './define.js';

/**
 * The datastore service's status as the guest agent reports it (Trove's `ServiceStatuses`,
 * trove/instance/service_status.py). `apiStatus` is what the user sees when no task or server state takes
 * precedence (see composite.ts); HEALTHY reads ACTIVE there and shows as the operating status. Trove's codes
 * are kept, except RESTARTING, which collided with UPGRADING at 0x22 and gets 0x23 here (unused by Trove).
 */
export const serviceApiStatuses = [
  'ACTIVE',
  'BLOCKED',
  'SHUTDOWN',
  'FAILED',
  'BUILD',
  'ERROR',
  'REBOOT',
  'RESTART_REQUIRED',
  'UPGRADE',
  'DELETED',
] as const;
export type ServiceApiStatus = (typeof serviceApiStatuses)[number];

export interface ServiceStatusEntry {
  readonly code: number;
  readonly apiStatus: ServiceApiStatus;
  readonly description: string;
}

const s = (code: number, apiStatus: ServiceApiStatus, description: string): ServiceStatusEntry => ({
  code,
  apiStatus,
  description,
});

const defined = defineStatuses('service status', {
  RUNNING: s(0x01, 'ACTIVE', 'The datastore is running.'),
  BLOCKED: s(0x02, 'BLOCKED', 'The datastore is blocked (e.g. out of disk).'),
  PAUSED: s(0x03, 'SHUTDOWN', 'The datastore is paused, as during a reboot.'),
  SHUTDOWN: s(0x04, 'SHUTDOWN', 'The datastore is shut down.'),
  DELETED: s(0x05, 'DELETED', 'The instance is deleted.'),
  CRASHED: s(0x06, 'SHUTDOWN', 'The datastore crashed.'),
  FAILED: s(0x08, 'FAILED', 'The datastore failed to start or prepare.'),
  BUILDING: s(0x09, 'BUILD', 'The guest agent is preparing the datastore.'),
  UNKNOWN: s(0x16, 'ERROR', 'The guest agent could not tell the datastore state.'),
  NEW: s(0x17, 'BUILD', 'No report yet: the guest agent has not started.'),
  FAILED_TIMEOUT_GUESTAGENT: s(0x18, 'ERROR', 'The guest agent stopped reporting.'),
  INSTANCE_READY: s(0x19, 'BUILD', 'The guest agent is up; preparing has not finished.'),
  RESTART_REQUIRED: s(0x20, 'RESTART_REQUIRED', 'The datastore needs a restart to apply configuration.'),
  HEALTHY: s(0x21, 'ACTIVE', 'The datastore is running and answers health checks.'),
  UPGRADING: s(0x22, 'UPGRADE', 'The datastore is being upgraded.'),
  RESTARTING: s(0x23, 'REBOOT', 'The datastore is restarting.'),
  BUILD_PENDING: s(0x24, 'BUILD', 'Prepare finished; waiting for the datastore to come up.'),
});

export const serviceStatuses = defined.table;
export const serviceStatusNames = defined.names;
export const ServiceStatus = z.enum(serviceStatusNames);
export type ServiceStatus = z.infer<typeof ServiceStatus>;
export const serviceStatusByCode = defined.byCode;

/** Statuses in which the datastore answers clients. */
export const serviceRunningStatuses: readonly ServiceStatus[] = ['RUNNING', 'HEALTHY'];
