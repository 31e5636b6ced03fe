import { CorralError } from '../errors/index.js';

/** No record with that id (or it is deleted and the caller did not ask for deleted ones). */
export class StoreNotFoundError extends CorralError {
  readonly code = 'STORE_NOT_FOUND';
  constructor(
    readonly entity: 'instance' | 'task' | 'certificate',
    readonly id: string,
  ) {
    super(`${entity} ${id} not found`);
  }
}

/**
 * A write lost a race: the record's version is not the one the caller read, or a record with that id
 * already exists. Re-read and decide again.
 */
export class StoreConflictError extends CorralError {
  readonly code = 'STORE_CONFLICT';
  constructor(
    readonly entity: 'instance' | 'task' | 'certificate',
    readonly id: string,
    message: string,
    readonly expectedVersion?: number,
    readonly actualVersion?: number,
  ) {
    super(`${entity} ${id}: ${message}`);
  }
}

/**
 * The caller does not hold the task's lease (another worker claimed it after expiry, or the task was
 * cancelled or finished): it must stop working on the task at once.
 */
export class LeaseLostError extends CorralError {
  readonly code = 'LEASE_LOST';
  constructor(
    readonly taskId: string,
    readonly owner: string,
    readonly reason: string,
  ) {
    super(`task ${taskId}: ${owner} does not hold the lease (${reason})`);
  }
}
