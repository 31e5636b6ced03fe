import type { StatusRow, TxOps } from '../backend.js';
import { StoreConflictError } from '../errors.js';
import {
  certificateColumns,
  certificateToRow,
  instanceColumns,
  instanceToRow,
  type Row,
  rowToCertificate,
  rowToInstance,
  rowToTask,
  taskColumns,
  taskToRow,
} from './rows.js';

/**
 * The row access both SQL backends share. SQL is written with `?` placeholders; a backend's executor turns
 * them into its own (`$1`… for PostgreSQL) and binds values its driver accepts.
 */
export interface SqlExecutor {
  all(sql: string, params: readonly unknown[]): Promise<Row[]>;
  run(sql: string, params: readonly unknown[]): Promise<void>;
  /** True when the error is a unique-key violation (the id exists). */
  isUniqueViolation(error: unknown): boolean;
}

export interface SqlDialect {
  /** Appended to single-row reads inside a write transaction (`FOR UPDATE` in PostgreSQL, nothing in SQLite). */
  lockRow: string;
  /** Appended to the claim query (`FOR UPDATE SKIP LOCKED` in PostgreSQL). */
  lockSkip: string;
  /** PostgreSQL: update many rows in one statement from arrays (`unnest`); SQLite loops a prepared UPDATE. */
  arrays: boolean;
}

/** Rows per `IN (…)` read: below every engine's bound-parameter limit. */
const CHUNK = 500;

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');
const assignments = (columns: readonly string[]) =>
  columns
    .slice(1)
    .map((c) => `${c} = ?`)
    .join(', ');

const INSERT_INSTANCE = `INSERT INTO instances (${instanceColumns.join(', ')}) VALUES (${placeholders(instanceColumns.length)})`;
const UPDATE_INSTANCE = `UPDATE instances SET ${assignments(instanceColumns)} WHERE id = ?`;
const INSERT_TASK = `INSERT INTO tasks (${taskColumns.join(', ')}) VALUES (${placeholders(taskColumns.length)})`;
const UPDATE_TASK = `UPDATE tasks SET ${assignments(taskColumns)} WHERE id = ?`;
const INSERT_CERT = `INSERT INTO guest_certificates (${certificateColumns.join(', ')}) VALUES (${placeholders(certificateColumns.length)})`;
const UPDATE_CERT = `UPDATE guest_certificates SET ${assignments(certificateColumns)} WHERE serial = ?`;

/** Moves the key (first column) to the end, to match `UPDATE … SET … WHERE key = ?`. */
const keyLast = (values: unknown[]) => [...values.slice(1), values[0]];

const asList = <T>(value: T | readonly T[] | undefined): readonly T[] | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? (value as readonly T[]) : [value as T];

function toStatusRow(row: Row): StatusRow {
  return {
    serviceStatus: String(row.service_status) as StatusRow['serviceStatus'],
    lastBootId: row.last_boot_id === null ? null : String(row.last_boot_id),
    lastSeq: row.last_seq === null ? null : Number(row.last_seq),
    previousBootId: row.previous_boot_id === null ? null : String(row.previous_boot_id),
    deletedAt: row.deleted_at === null ? null : Number(row.deleted_at),
    version: Number(row.version),
  };
}

export function sqlOps(db: SqlExecutor, dialect: SqlDialect): TxOps {
  const insert = async (sql: string, values: unknown[], entity: 'instance' | 'task' | 'certificate', id: string) => {
    try {
      await db.run(sql, values);
    } catch (error) {
      if (db.isUniqueViolation(error)) throw new StoreConflictError(entity, id, 'already exists');
      throw error;
    }
  };

  const ops: TxOps = {
    async getInstance(id) {
      const [row] = await db.all(`SELECT * FROM instances WHERE id = ? ${dialect.lockRow}`, [id]);
      return row && rowToInstance(row);
    },
    insertInstance: (i) => insert(INSERT_INSTANCE, instanceToRow(i), 'instance', i.id),
    writeInstance: (i) => db.run(UPDATE_INSTANCE, keyLast(instanceToRow(i))),
    async listInstances(query) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (clause: string, ...values: unknown[]) => {
        where.push(clause);
        params.push(...values);
      };
      if (!query.includeDeleted) add('deleted_at IS NULL');
      if (query.projectId !== undefined) add('project_id = ?', query.projectId);
      const taskStatuses = asList(query.taskStatus);
      if (taskStatuses) add(`task_status IN (${placeholders(taskStatuses.length) || 'NULL'})`, ...taskStatuses);
      const serviceStatuses = asList(query.serviceStatus);
      if (serviceStatuses)
        add(`service_status IN (${placeholders(serviceStatuses.length) || 'NULL'})`, ...serviceStatuses);
      if (query.datastore !== undefined) add('datastore = ?', query.datastore);
      if (query.datastoreVersion !== undefined) add('datastore_version = ?', query.datastoreVersion);
      if (query.after !== undefined) add('id > ?', query.after);
      const sql = `SELECT * FROM instances ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
      return (await db.all(sql, [...params, query.limit])).map(rowToInstance);
    },
    async listSilentInstances(query) {
      const excluded = query.excludeServiceStatuses;
      const notExcluded = excluded.length ? `AND service_status NOT IN (${placeholders(excluded.length)})` : '';
      const seen = query.includeNeverSeen
        ? '(last_seen_at < ? OR (last_seen_at IS NULL AND created_at < ?))'
        : 'last_seen_at < ?';
      const sql = `SELECT * FROM instances WHERE deleted_at IS NULL AND ${seen} ${notExcluded}
        ORDER BY COALESCE(last_seen_at, created_at), id LIMIT ?`;
      const since = query.includeNeverSeen ? [query.silentSince, query.silentSince] : [query.silentSince];
      return (await db.all(sql, [...since, ...excluded, query.limit])).map(rowToInstance);
    },
    async getStatusRow(id): Promise<StatusRow | undefined> {
      const [row] = await db.all(
        `SELECT service_status, last_boot_id, last_seq, previous_boot_id, deleted_at, version FROM instances WHERE id = ? ${dialect.lockRow}`,
        [id],
      );
      return row && toStatusRow(row);
    },
    async getStatusRows(ids) {
      const rows = new Map<string, StatusRow>();
      const unique = [...new Set(ids)].sort();
      for (let i = 0; i < unique.length; i += CHUNK) {
        const chunk = unique.slice(i, i + CHUNK);
        // Sorted and locked in id order, so two batches never wait on each other in a cycle.
        const found = await db.all(
          `SELECT id, service_status, last_boot_id, last_seq, previous_boot_id, deleted_at, version FROM instances
            WHERE id IN (${placeholders(chunk.length)}) ORDER BY id ${dialect.lockRow}`,
          chunk,
        );
        for (const row of found) rows.set(String(row.id), toStatusRow(row));
      }
      return rows;
    },
    async writeStatuses(writes) {
      if (writes.length === 0) return;
      if (!dialect.arrays) {
        for (const { id, ...w } of writes) await ops.writeStatus(id, w);
        return;
      }
      const column = <K extends keyof (typeof writes)[number]>(key: K) => writes.map((w) => w[key]);
      await db.run(
        `UPDATE instances AS i SET service_status = v.service_status, last_seen_at = v.last_seen_at,
          last_boot_id = v.last_boot_id, last_seq = v.last_seq, previous_boot_id = v.previous_boot_id,
          version = v.version, updated_at = v.updated_at
        FROM unnest(?::text[], ?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::text[], ?::int[], ?::bigint[])
          AS v(id, service_status, last_seen_at, last_boot_id, last_seq, previous_boot_id, version, updated_at)
        WHERE i.id = v.id`,
        [
          column('id'),
          column('serviceStatus'),
          column('lastSeenAt'),
          column('lastBootId'),
          column('lastSeq'),
          column('previousBootId'),
          column('version'),
          column('updatedAt'),
        ],
      );
    },
    writeStatus: (id, w) =>
      db.run(
        `UPDATE instances SET service_status = ?, last_seen_at = ?, last_boot_id = ?, last_seq = ?,
          previous_boot_id = ?, version = ?, updated_at = ? WHERE id = ?`,
        [w.serviceStatus, w.lastSeenAt, w.lastBootId, w.lastSeq, w.previousBootId, w.version, w.updatedAt, id],
      ),

    async getTask(id) {
      const [row] = await db.all(`SELECT * FROM tasks WHERE id = ? ${dialect.lockRow}`, [id]);
      return row && rowToTask(row);
    },
    insertTask: (t) => insert(INSERT_TASK, taskToRow(t), 'task', t.id),
    writeTask: (t) => db.run(UPDATE_TASK, keyLast(taskToRow(t))),
    async listTasks(query) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (query.instanceId !== undefined) {
        where.push('instance_id = ?');
        params.push(query.instanceId);
      }
      if (query.states) {
        where.push(`state IN (${placeholders(query.states.length) || 'NULL'})`);
        params.push(...query.states);
      }
      if (query.kinds) {
        where.push(`kind IN (${placeholders(query.kinds.length) || 'NULL'})`);
        params.push(...query.kinds);
      }
      const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT ?`;
      return (await db.all(sql, [...params, query.limit])).map(rowToTask);
    },
    async findClaimableTasks(now, kinds, limit) {
      const kindClause = kinds ? `AND kind IN (${placeholders(kinds.length) || 'NULL'})` : '';
      const sql = `SELECT * FROM tasks
        WHERE ((state = 'pending' AND run_after <= ?) OR (state = 'running' AND (lease_expires_at IS NULL OR lease_expires_at <= ?)))
        ${kindClause} ORDER BY created_at, id LIMIT ? ${dialect.lockSkip}`;
      return (await db.all(sql, [now, now, ...(kinds ?? []), limit])).map(rowToTask);
    },

    async getCertificate(serial) {
      const [row] = await db.all(`SELECT * FROM guest_certificates WHERE serial = ? ${dialect.lockRow}`, [serial]);
      return row && rowToCertificate(row);
    },
    insertCertificate: (c) => insert(INSERT_CERT, certificateToRow(c), 'certificate', c.serial),
    writeCertificate: (c) => db.run(UPDATE_CERT, keyLast(certificateToRow(c))),
    async listCertificates(query) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (query.guestId !== undefined) {
        where.push('guest_id = ?');
        params.push(query.guestId);
      }
      if (query.revoked !== undefined) {
        where.push('revoked = ?');
        params.push(query.revoked);
      }
      const sql = `SELECT * FROM guest_certificates ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY issued_at, serial`;
      return (await db.all(sql, params)).map(rowToCertificate);
    },
  };
  return ops;
}
