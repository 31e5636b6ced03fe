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
import { sqliteMigrations } from '../../packages/core/src/store/sql/migrations.js';

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
        { version: 2, name: 'guest certificate public key fingerprint' },
      ]);
    } finally {
      db.close();
    }
  });

  it('upgrades a version-1 database: certificates written before have no key fingerprint', async () => {
    const path = tempFile();
    const old = new Database(path);
    old.exec(sqliteMigrations[0]?.sql ?? '');
    old.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    old.prepare('INSERT INTO schema_migrations VALUES (1, ?, 0)').run(sqliteMigrations[0]?.name);
    old.prepare('INSERT INTO guest_certificates VALUES (?, ?, NULL, 1, 2, 0, NULL, NULL)').run('aa', 'g1');
    old.close();
    const store = await createSqliteStore({ path });
    try {
      expect((await store.getGuestCertificate('aa'))?.publicKeySha256).toBeNull();
      const key = 'cd'.repeat(32);
      await store.putGuestCertificate({ serial: 'bb', guestId: 'g2', issuedAt: 1, notAfter: 2, publicKeySha256: key });
      expect((await store.getGuestCertificate('bb'))?.publicKeySha256).toBe(key);
    } finally {
      await store.close();
    }
  });
});
