/**
 * The store conformance suite against real SQLite: a database file in a fresh temporary directory per test
 * (WAL mode, migrations), with a second connection on the same file for the races. Needs nothing started.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore } from '@corral/core';
import { describeStoreContract } from '@corral/core/testing';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'corral-sqlite-'));
  dirs.push(dir);
  return join(dir, 'corral.db');
}

describeStoreContract(
  'sqlite',
  async (clock) => {
    const path = tempFile();
    let store = await createSqliteStore({ path, clock });
    const peer = await createSqliteStore({ path, clock });
    return {
      get store() {
        return store;
      },
      peer,
      reopen: async () => {
        await store.close();
        store = await createSqliteStore({ path, clock });
        return store;
      },
      close: async () => {
        await Promise.all([store.close(), peer.close()]);
      },
    };
  },
  { durable: true },
);

describe('sqlite store on disk', () => {
  it('uses WAL and records its migrations once', async () => {
    const path = tempFile();
    await (await createSqliteStore({ path })).close();
    await (await createSqliteStore({ path })).close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare('SELECT version, name FROM schema_migrations').all()).toEqual([
        { version: 1, name: 'instances, tasks, guest certificates' },
      ]);
    } finally {
      db.close();
    }
  });
});
