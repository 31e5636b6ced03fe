import type { Instance } from '../instance/models.js';
import type { ServiceStatus } from '../status/service-status.js';
import type { Task, TaskKind } from '../taskmanager/models.js';
import type { GuestCertificate, InstanceQuery, SilentInstanceQuery, TaskQuery } from './types.js';

/**
 * What a storage backend provides to the shared store engine (engine.ts): row access inside a
 * transaction. The engine holds all the rules (versions, leases, ordering); a backend only reads and writes
 * rows, so the three stores cannot drift apart in behaviour.
 */
export interface StatusRow {
  serviceStatus: ServiceStatus;
  lastBootId: string | null;
  lastSeq: number | null;
  previousBootId: string | null;
  deletedAt: number | null;
  version: number;
}

export interface StatusWrite {
  serviceStatus: ServiceStatus;
  lastSeenAt: number;
  lastBootId: string;
  lastSeq: number;
  previousBootId: string | null;
  version: number;
  updatedAt: number;
}

export interface TxOps {
  /** Reads (and in PostgreSQL locks, until commit) one instance. */
  getInstance(id: string): Promise<Instance | undefined>;
  /** Inserts; throws StoreConflictError if the id exists. */
  insertInstance(instance: Instance): Promise<void>;
  /** Overwrites the row with this id. */
  writeInstance(instance: Instance): Promise<void>;
  listInstances(query: InstanceQuery & { limit: number }): Promise<Instance[]>;
  listSilentInstances(query: Required<SilentInstanceQuery>): Promise<Instance[]>;
  /** The few columns a heartbeat needs (and locks them in PostgreSQL). */
  getStatusRow(id: string): Promise<StatusRow | undefined>;
  writeStatus(id: string, write: StatusWrite): Promise<void>;
  /** Batch forms for heartbeat ingestion: one read and one write per batch where the engine allows. */
  getStatusRows(ids: readonly string[]): Promise<Map<string, StatusRow>>;
  writeStatuses(writes: readonly (StatusWrite & { id: string })[]): Promise<void>;

  getTask(id: string): Promise<Task | undefined>;
  insertTask(task: Task): Promise<void>;
  writeTask(task: Task): Promise<void>;
  listTasks(query: TaskQuery & { limit: number }): Promise<Task[]>;
  /**
   * Oldest tasks claimable at `now`: pending with run_after <= now, or running with an expired lease.
   * PostgreSQL locks them, skipping rows another transaction holds.
   */
  findClaimableTasks(now: number, kinds: readonly TaskKind[] | undefined, limit: number): Promise<Task[]>;

  getCertificate(serial: string): Promise<GuestCertificate | undefined>;
  insertCertificate(certificate: GuestCertificate): Promise<void>;
  writeCertificate(certificate: GuestCertificate): Promise<void>;
  listCertificates(query: { guestId?: string; revoked?: boolean }): Promise<GuestCertificate[]>;
}

export interface Backend {
  readonly kind: 'memory' | 'sqlite' | 'postgres';
  /**
   * Runs `fn` in one transaction: all of its writes commit together, or none (when it throws). A read-only
   * transaction may skip write locks and row locks; `fn` must not write in it.
   */
  transaction<T>(fn: (tx: TxOps) => Promise<T>, options?: { readOnly?: boolean }): Promise<T>;
  close(): Promise<void>;
}

/** A FIFO lock: backends with one connection run one transaction at a time. */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
