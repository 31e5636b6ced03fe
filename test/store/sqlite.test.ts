/**
 * The store conformance suite against real SQLite, once per driver this Node can open: node:sqlite (Node
 * 22.13+) and better-sqlite3 (where its native module matches this Node's ABI: the Node the workspace was
 * installed with). A database file in a fresh temporary directory per test (WAL mode, migrations), with a
 * second connection on the same file for the races. Needs nothing started. scripts/test.sh runs it on Node
 * 20 (better-sqlite3) and, through scripts/test-node-matrix.sh, on Node 22 and 24 (node:sqlite).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStore, defaultSqliteDriver } from '@corral/core';
import { describeStoreContract } from '@corral/core/testing/suites';
import { afterAll, describe, expect, it } from 'vitest';
import { sqliteMigrations } from '../../packages/core/src/store/sql/migrations.js';
import {
  availableSqliteDrivers,
  openSqliteConnection,
  type SqliteDriverName,
} from '../../packages/core/src/store/sqlite-drivers/index.js';

const drivers = await availableSqliteDrivers();
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const hasBuiltinSqlite = major > 22 || (major === 22 && minor >= 13);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'corral-sqlite-'));
  dirs.push(dir);
  return join(dir, 'corral.db');
}

describe(`sqlite drivers on Node ${process.version}`, () => {
  it('has at least one driver, and node:sqlite by default where Node has it built in', () => {
    expect(drivers.length).toBeGreaterThan(0);
    if (hasBuiltinSqlite) {
      expect(drivers).toContain('node:sqlite');
      expect(defaultSqliteDriver()).toBe('node:sqlite');
    } else {
      expect(defaultSqliteDriver()).toBe('better-sqlite3');
    }
  });

  it('names what to install when the chosen driver is missing', async () => {
    const missing = (['node:sqlite', 'better-sqlite3'] as const).find((driver) => !drivers.includes(driver));
    if (!missing) return; // both present: nothing to show
    await expect(createSqliteStore({ path: tempFile(), driver: missing })).rejects.toThrow(
      missing === 'node:sqlite' ? /node:sqlite is not available/ : /better-sqlite3.*(npm install|npm rebuild)/,
    );
  });
});

function describeDriver(driver: SqliteDriverName): void {
  describeStoreContract(
    `sqlite (${driver})`,
    async (clock) => {
      const path = tempFile();
      let store = await createSqliteStore({ path, clock, driver });
      const peer = await createSqliteStore({ path, clock, driver });
      return {
        get store() {
          return store;
        },
        peer,
        reopen: async () => {
          await store.close();
          store = await createSqliteStore({ path, clock, driver });
          return store;
        },
        close: async () => {
          await Promise.all([store.close(), peer.close()]);
        },
      };
    },
    { durable: true },
  );

  describe(`sqlite store on disk (${driver})`, () => {
    it('runs on the driver it was given', async () => {
      const store = await createSqliteStore({ path: tempFile(), driver });
      expect(store.driver).toBe(driver);
      await store.close();
    });

    it('uses WAL and records its migrations once', async () => {
      const path = tempFile();
      await (await createSqliteStore({ path, driver })).close();
      await (await createSqliteStore({ path, driver })).close();
      const db = await openSqliteConnection(path, driver);
      try {
        expect(db.prepare('PRAGMA journal_mode').all([])).toEqual([{ journal_mode: 'wal' }]);
        expect(
          db
            .prepare('SELECT version, name FROM schema_migrations')
            .all([])
            .map((row) => ({ ...row })),
        ).toEqual([
          { version: 1, name: 'instances, tasks, guest certificates' },
          { version: 2, name: 'guest certificate public key fingerprint' },
        ]);
      } finally {
        db.close();
      }
    });

    it('upgrades a version-1 database: certificates written before have no key fingerprint', async () => {
      const path = tempFile();
      const old = await openSqliteConnection(path, driver);
      old.exec(sqliteMigrations[0]?.sql ?? '');
      old.exec(
        'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
      );
      old.prepare('INSERT INTO schema_migrations VALUES (1, ?, 0)').run([sqliteMigrations[0]?.name ?? '']);
      old.prepare('INSERT INTO guest_certificates VALUES (?, ?, NULL, 1, 2, 0, NULL, NULL)').run(['aa', 'g1']);
      old.close();
      const store = await createSqliteStore({ path, driver });
      try {
        expect((await store.getGuestCertificate('aa'))?.publicKeySha256).toBeNull();
        const key = 'cd'.repeat(32);
        await store.putGuestCertificate({
          serial: 'bb',
          guestId: 'g2',
          issuedAt: 1,
          notAfter: 2,
          publicKeySha256: key,
        });
        expect((await store.getGuestCertificate('bb'))?.publicKeySha256).toBe(key);
      } finally {
        await store.close();
      }
    });
  });
}

for (const driver of drivers) describeDriver(driver);
