import type { Instance } from '../../instance/models.js';
import type { Task } from '../../taskmanager/models.js';
import type { GuestCertificate } from '../types.js';

/**
 * Record ↔ row mapping shared by the SQLite and PostgreSQL backends: same column names, JSON columns as
 * text going in (PostgreSQL casts it to jsonb), and tolerant reads (PostgreSQL returns BIGINT as a string
 * and jsonb already parsed; SQLite returns booleans as 0/1).
 */
export type Row = Record<string, unknown>;

export const instanceColumns = [
  'id',
  'version',
  'project_id',
  'name',
  'provider',
  'flavor',
  'image',
  'datastore',
  'datastore_version',
  'volume_size_gb',
  'server_id',
  'server_status',
  'task_status',
  'service_status',
  'guest_id',
  'last_seen_at',
  'last_boot_id',
  'last_seq',
  'previous_boot_id',
  'fault',
  'configuration_overrides',
  'created_at',
  'updated_at',
  'deleted_at',
] as const;

export const taskColumns = [
  'id',
  'version',
  'kind',
  'instance_id',
  'state',
  'step',
  'checkpoint',
  'args',
  'attempts',
  'lease_owner',
  'lease_expires_at',
  'run_after',
  'deadline',
  'last_error',
  'result',
  'request_id',
  'created_at',
  'updated_at',
  'finished_at',
] as const;

export const certificateColumns = [
  'serial',
  'guest_id',
  'instance_id',
  'issued_at',
  'not_after',
  'revoked',
  'revoked_at',
  'revoked_reason',
  'public_key_sha256',
] as const;

const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const strOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
const json = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;
const jsonOrNull = <T>(value: unknown): T | null => (value === null || value === undefined ? null : json<T>(value));
const text = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

export function instanceToRow(i: Instance): unknown[] {
  return [
    i.id,
    i.version,
    i.projectId,
    i.name,
    i.provider,
    i.flavor,
    i.image,
    i.datastore.type,
    i.datastore.version,
    i.volumeSizeGb,
    i.serverId,
    i.serverStatus,
    i.taskStatus,
    i.serviceStatus,
    i.guestId,
    i.lastSeenAt,
    i.lastBootId,
    i.lastSeq,
    i.previousBootId,
    text(i.fault),
    text(i.configurationOverrides),
    i.createdAt,
    i.updatedAt,
    i.deletedAt,
  ];
}

export function rowToInstance(r: Row): Instance {
  return {
    id: String(r.id),
    version: num(r.version),
    projectId: String(r.project_id),
    name: String(r.name),
    provider: String(r.provider),
    flavor: String(r.flavor),
    image: String(r.image),
    datastore: { type: String(r.datastore), version: String(r.datastore_version) },
    volumeSizeGb: numOrNull(r.volume_size_gb),
    serverId: strOrNull(r.server_id),
    serverStatus: strOrNull(r.server_status) as Instance['serverStatus'],
    taskStatus: String(r.task_status) as Instance['taskStatus'],
    serviceStatus: String(r.service_status) as Instance['serviceStatus'],
    guestId: String(r.guest_id),
    lastSeenAt: numOrNull(r.last_seen_at),
    lastBootId: strOrNull(r.last_boot_id),
    lastSeq: numOrNull(r.last_seq),
    previousBootId: strOrNull(r.previous_boot_id),
    fault: jsonOrNull(r.fault),
    configurationOverrides: json(r.configuration_overrides),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    deletedAt: numOrNull(r.deleted_at),
  };
}

export function taskToRow(t: Task): unknown[] {
  return [
    t.id,
    t.version,
    t.kind,
    t.instanceId,
    t.state,
    t.step,
    text(t.checkpoint),
    text(t.args),
    t.attempts,
    t.leaseOwner,
    t.leaseExpiresAt,
    t.runAfter,
    t.deadline,
    text(t.lastError),
    text(t.result),
    t.requestId,
    t.createdAt,
    t.updatedAt,
    t.finishedAt,
  ];
}

export function rowToTask(r: Row): Task {
  return {
    id: String(r.id),
    version: num(r.version),
    kind: String(r.kind) as Task['kind'],
    instanceId: String(r.instance_id),
    state: String(r.state) as Task['state'],
    step: String(r.step),
    checkpoint: json(r.checkpoint),
    args: json(r.args),
    attempts: num(r.attempts),
    leaseOwner: strOrNull(r.lease_owner),
    leaseExpiresAt: numOrNull(r.lease_expires_at),
    runAfter: num(r.run_after),
    deadline: numOrNull(r.deadline),
    lastError: jsonOrNull(r.last_error),
    result: jsonOrNull(r.result),
    requestId: strOrNull(r.request_id),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    finishedAt: numOrNull(r.finished_at),
  };
}

export function certificateToRow(c: GuestCertificate): unknown[] {
  return [
    c.serial,
    c.guestId,
    c.instanceId,
    c.issuedAt,
    c.notAfter,
    c.revoked,
    c.revokedAt,
    c.revokedReason,
    c.publicKeySha256,
  ];
}

export function rowToCertificate(r: Row): GuestCertificate {
  return {
    serial: String(r.serial),
    guestId: String(r.guest_id),
    instanceId: strOrNull(r.instance_id),
    issuedAt: num(r.issued_at),
    notAfter: num(r.not_after),
    revoked: r.revoked === true || r.revoked === 1 || r.revoked === 1n,
    revokedAt: numOrNull(r.revoked_at),
    revokedReason: strOrNull(r.revoked_reason),
    publicKeySha256: strOrNull(r.public_key_sha256),
  };
}
