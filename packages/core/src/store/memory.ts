import type { Instance } from '../instance/models.js';
import type { Task } from '../taskmanager/models.js';
import { type Backend, Mutex, type StatusRow, type TxOps } from './backend.js';
import { StoreEngine } from './engine.js';
import { StoreConflictError } from './errors.js';
import type { GuestCertificate, Store, StoreOptions } from './types.js';

type Tables = {
  instances: Map<string, Instance>;
  tasks: Map<string, Task>;
  certificates: Map<string, GuestCertificate>;
};

/**
 * Rows live in Maps. Transactions run one at a time; each write records how to undo it, so a transaction
 * that throws leaves nothing behind. Records are copied in and out: a caller mutating a returned object
 * cannot change the store.
 */
class MemoryBackend implements Backend {
  readonly kind = 'memory' as const;
  private readonly tables: Tables = { instances: new Map(), tasks: new Map(), certificates: new Map() };
  private readonly mutex = new Mutex();

  transaction<T>(fn: (tx: TxOps) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      const undo: (() => void)[] = [];
      const put = <K extends keyof Tables>(
        table: K,
        key: string,
        value: Tables[K] extends Map<string, infer V> ? V : never,
      ) => {
        const map = this.tables[table] as Map<string, unknown>;
        const had = map.has(key);
        const previous = map.get(key);
        undo.push(() => (had ? map.set(key, previous) : map.delete(key)));
        map.set(key, structuredClone(value));
      };
      const insert = <K extends keyof Tables>(
        table: K,
        entity: 'instance' | 'task' | 'certificate',
        key: string,
        value: Tables[K] extends Map<string, infer V> ? V : never,
      ) => {
        if (this.tables[table].has(key)) throw new StoreConflictError(entity, key, 'already exists');
        put(table, key, value);
      };
      const get = <V>(map: Map<string, V>, key: string): V | undefined => {
        const value = map.get(key);
        return value === undefined ? undefined : structuredClone(value);
      };
      const { instances, tasks, certificates } = this.tables;

      const tx: TxOps = {
        getInstance: async (id) => get(instances, id),
        insertInstance: async (instance) => insert('instances', 'instance', instance.id, instance),
        writeInstance: async (instance) => put('instances', instance.id, instance),
        listInstances: async (query) => {
          const taskStatuses = toSet(query.taskStatus);
          const serviceStatuses = toSet(query.serviceStatus);
          return [...instances.values()]
            .filter(
              (i) =>
                (query.includeDeleted || i.deletedAt === null) &&
                (query.projectId === undefined || i.projectId === query.projectId) &&
                (!taskStatuses || taskStatuses.has(i.taskStatus)) &&
                (!serviceStatuses || serviceStatuses.has(i.serviceStatus)) &&
                (query.datastore === undefined || i.datastore.type === query.datastore) &&
                (query.datastoreVersion === undefined || i.datastore.version === query.datastoreVersion) &&
                (query.after === undefined || i.id > query.after),
            )
            .sort((a, b) => compare(a.id, b.id))
            .slice(0, query.limit)
            .map((i) => structuredClone(i));
        },
        listSilentInstances: async (query) =>
          [...instances.values()]
            .filter(
              (i) =>
                i.deletedAt === null &&
                !query.excludeServiceStatuses.includes(i.serviceStatus) &&
                (i.lastSeenAt === null
                  ? query.includeNeverSeen && i.createdAt < query.silentSince
                  : i.lastSeenAt < query.silentSince),
            )
            .sort((a, b) => (a.lastSeenAt ?? a.createdAt) - (b.lastSeenAt ?? b.createdAt) || compare(a.id, b.id))
            .slice(0, query.limit)
            .map((i) => structuredClone(i)),
        getStatusRow: async (id): Promise<StatusRow | undefined> => {
          const i = instances.get(id);
          return (
            i && {
              serviceStatus: i.serviceStatus,
              lastBootId: i.lastBootId,
              lastSeq: i.lastSeq,
              previousBootId: i.previousBootId,
              deletedAt: i.deletedAt,
              version: i.version,
            }
          );
        },
        getStatusRows: async (ids) => {
          const rows = new Map<string, StatusRow>();
          for (const id of ids) {
            const row = await tx.getStatusRow(id);
            if (row) rows.set(id, row);
          }
          return rows;
        },
        writeStatuses: async (writes) => {
          for (const { id, ...write } of writes) await tx.writeStatus(id, write);
        },
        writeStatus: async (id, write) => {
          const current = instances.get(id);
          if (current) put('instances', id, { ...current, ...write });
        },
        getTask: async (id) => get(tasks, id),
        insertTask: async (task) => insert('tasks', 'task', task.id, task),
        writeTask: async (task) => put('tasks', task.id, task),
        listTasks: async (query) =>
          [...tasks.values()]
            .filter(
              (t) =>
                (query.instanceId === undefined || t.instanceId === query.instanceId) &&
                (query.states === undefined || query.states.includes(t.state)) &&
                (query.kinds === undefined || query.kinds.includes(t.kind)),
            )
            .sort(byCreation)
            .slice(0, query.limit)
            .map((t) => structuredClone(t)),
        findClaimableTasks: async (now, kinds, limit) =>
          [...tasks.values()]
            .filter(
              (t) =>
                (kinds === undefined || kinds.includes(t.kind)) &&
                ((t.state === 'pending' && t.runAfter <= now) ||
                  (t.state === 'running' && (t.leaseExpiresAt === null || t.leaseExpiresAt <= now))),
            )
            .sort(byCreation)
            .slice(0, limit)
            .map((t) => structuredClone(t)),
        getCertificate: async (serial) => get(certificates, serial),
        insertCertificate: async (c) => insert('certificates', 'certificate', c.serial, c),
        writeCertificate: async (c) => put('certificates', c.serial, c),
        listCertificates: async (query) =>
          [...certificates.values()]
            .filter(
              (c) =>
                (query.guestId === undefined || c.guestId === query.guestId) &&
                (query.revoked === undefined || c.revoked === query.revoked),
            )
            .sort((a, b) => a.issuedAt - b.issuedAt || compare(a.serial, b.serial))
            .map((c) => structuredClone(c)),
      };

      try {
        return await fn(tx);
      } catch (error) {
        for (const step of undo.reverse()) step();
        throw error;
      }
    });
  }

  async close(): Promise<void> {}
}

function toSet<T>(value: T | readonly T[] | undefined): Set<T> | undefined {
  if (value === undefined) return undefined;
  return new Set(Array.isArray(value) ? (value as readonly T[]) : [value as T]);
}

/** Byte order, as SQLite's BINARY and PostgreSQL's "C" collations sort. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byCreation(a: Task, b: Task): number {
  return a.createdAt - b.createdAt || compare(a.id, b.id);
}

/** A store in this process's memory: for unit tests and throwaway control planes. */
export function createMemoryStore(options: StoreOptions = {}): Store {
  return new StoreEngine(new MemoryBackend(), options);
}
