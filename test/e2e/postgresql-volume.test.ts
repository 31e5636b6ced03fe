/**
 * Data that lives, on real parts: a PostgreSQL instance on libvirt (the micro image's postgresql variant) with a
 * data volume. The agent finds the volume by the `<serial>` the provider set, formats it once, mounts it where
 * PostgreSQL keeps its data and reports its size; a user and a database are made through the agent; rows are
 * written and read back with the host's `psql` (through a QEMU port forward on the host's loopback); then the
 * server is rebooted soft and hard through corral, and destroyed and started behind corral's back with virsh:
 * after each the instance is ACTIVE again by itself and the rows are still there.
 *
 * One VM for the whole file (under TCG each boot costs tens of seconds).
 *
 * Needs: scripts/setup/40-libvirt.sh (libvirtd, QEMU), the host's `psql` (scripts/setup/20-postgresql.sh), and
 * `bash scripts/guest-image/build.sh --variant postgresql` (after `npm run build`).
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  DatastoreCatalog,
  defaultDatastores,
  type EmbeddedControlPlane,
  GuestApi,
  type InstanceView,
  startEmbeddedControlPlane,
} from '@corral/core';
import { corralGuestImage, createLibvirtProvider, type LibvirtProvider } from '@corral/provider-libvirt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const imageDir = resolve(import.meta.dirname, '..', '..', '.cache', 'guest-image', 'postgresql');
const namePrefix = 'corral-pgvol-';
const IMAGE = 'corral-guest-postgresql';
const USER = { name: 'app', password: 'app-Secret-pass-1' };
const GIB = 1024 ** 3;

async function virsh(...args: string[]): Promise<string[]> {
  const { stdout } = await run('virsh', ['-q', ...args]);
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('PostgreSQL on a data volume in a real VM', () => {
  let stateDir: string;
  let provider: LibvirtProvider;
  let embedded: EmbeddedControlPlane;
  let guest: GuestApi;
  let instance: InstanceView;
  let hostPort: number;
  let requestCounter = 0;

  const requestId = (what: string) => `pgvol-${what}-${++requestCounter}`;

  /** psql on the host, through the loopback port QEMU forwards to the guest's 5432. */
  const psql = async (sql: string): Promise<string> => {
    const { stdout } = await run(
      'psql',
      [
        '-X',
        '-A',
        '-t',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        '127.0.0.1',
        '-p',
        String(hostPort),
        '-U',
        USER.name,
        '-d',
        'appdb',
        '-c',
        sql,
      ],
      { env: { ...process.env, PGPASSWORD: USER.password, PGCONNECT_TIMEOUT: '10' }, timeout: 60_000 },
    );
    return stdout.trim();
  };

  /** The first query after a boot: the composite status may say ACTIVE a moment before the guest listens. */
  const psqlOnceUp = async (sql: string): Promise<string> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await psql(sql);
      } catch (error) {
        if (attempt >= 60) throw error;
        await new Promise((done) => setTimeout(done, 1000));
      }
    }
  };

  /** QEMU's user-mode network forwards 127.0.0.1:hostPort to the guest's 5432; a new QEMU process needs it again. */
  const forward = async () => {
    await virsh(
      'qemu-monitor-command',
      instance.serverId!,
      '--hmp',
      `hostfwd_add hostnet0 tcp:127.0.0.1:${hostPort}-:5432`,
    );
  };

  const waitActive = async (what: string, since?: number) => {
    const view = await embedded.controlPlane.instances.waitFor(
      instance.id,
      (v) => (v.status === 'ACTIVE' && (since === undefined || (v.updatedAt ?? 0) > since)) || v.status === 'ERROR',
      { timeoutMs: 8 * 60_000 },
    );
    const console = await provider.readConsoleLog(instance.serverId!).catch(() => '');
    expect(view.status, `${what}: ${view.status}, fault ${JSON.stringify(view.fault)}\n${console.slice(-4000)}`).toBe(
      'ACTIVE',
    );
    return view;
  };

  beforeAll(async () => {
    for (const file of ['vmlinux', 'initrd.img']) {
      await access(join(imageDir, file)).catch(() => {
        throw new Error(
          `${join(imageDir, file)} is missing: run bash scripts/guest-image/build.sh --variant postgresql`,
        );
      });
    }
    stateDir = await mkdtemp(join(tmpdir(), 'corral-pgvol-'));
    hostPort = await freePort();
    const logger = pino({ level: 'warn' });
    provider = createLibvirtProvider({
      namePrefix,
      images: [corralGuestImage(imageDir, { name: IMAGE })],
      cdromBus: 'sata',
      logger,
    });
    const datastores = new DatastoreCatalog(
      defaultDatastores().map((datastore) =>
        datastore.name === 'postgresql'
          ? {
              ...datastore,
              versions: datastore.versions.map((version) => ({ ...version, images: { libvirt: IMAGE } })),
            }
          : datastore,
      ),
    );
    embedded = await startEmbeddedControlPlane({
      stateDir,
      providers: { libvirt: provider },
      datastores,
      logger,
      controlPlane: { heartbeat: { intervalSeconds: 3 }, timeouts: { buildMs: 8 * 60_000 } },
    });
    guest = new GuestApi(embedded.controlPlane.transport);
  }, 60_000);

  afterAll(async () => {
    await embedded?.close();
    for (const name of await virsh('list', '--all', '--name').catch(() => [])) {
      if (!name.startsWith(namePrefix)) continue;
      await virsh('destroy', name).catch(() => undefined);
      await virsh('undefine', name).catch(() => undefined);
    }
    for (const line of await virsh('vol-list', 'corral').catch(() => [])) {
      const name = line.split(/\s+/)[0] ?? '';
      if (name.startsWith(namePrefix)) await virsh('vol-delete', name, '--pool', 'corral').catch(() => undefined);
    }
    await provider?.close?.();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it(
    'goes ACTIVE with its data on the volume the provider named, and reports the volume’s size',
    async () => {
      const started = Date.now();
      const created = await embedded.controlPlane.instances.create({
        name: 'pgvol',
        provider: 'libvirt',
        flavor: 'corral.medium',
        volumeSizeGb: 1,
        datastore: { type: 'postgresql', version: '15' },
      });
      instance = created;
      instance = await waitActive('create');
      process.stdout.write(`postgresql time to ACTIVE: ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

      const server = await provider.getServer(instance.serverId!);
      expect(server.volumes?.[0]?.serial).toMatch(/^corral-[0-9a-f]{13}$/);
      const stats = (await guest.call(
        instance.id,
        'get_filesystem_stats',
        {},
        { timeoutMs: 30_000, requestId: requestId('fs') },
      )) as {
        mountPoint: string;
        device?: string;
        totalBytes: number;
        deviceBytes?: number;
      };
      expect(stats.mountPoint).toBe('/var/lib/corral/postgresql');
      // Found by its serial: with no root disk (kernel boot) the data disk is vda, which is why position lies.
      expect(stats.device).toMatch(/^\/dev\/vd[a-z]$/);
      expect(stats.deviceBytes).toBe(1 * GIB);
      expect(stats.totalBytes).toBeGreaterThan(0.8 * GIB);
    },
    10 * 60_000,
  );

  it(
    'makes a database and a user through the agent; psql on the host writes and reads rows',
    async () => {
      expect(instance?.status).toBe('ACTIVE');
      // Casts run side by side in the agent: the database must exist before a user is granted it.
      const waitListed = async (method: 'list_databases' | 'list_users', found: (result: unknown) => boolean) => {
        for (let attempt = 0; ; attempt++) {
          const result = await guest.call(instance.id, method, {}, { timeoutMs: 30_000, requestId: requestId(method) });
          if (found(result)) return;
          expect(attempt, `${method}: ${JSON.stringify(result)}`).toBeLessThan(120);
          await new Promise((done) => setTimeout(done, 500));
        }
      };
      await guest.cast(instance.id, 'create_database', { databases: [{ name: 'appdb' }] }, requestId('db'));
      await waitListed('list_databases', (result) =>
        (result as { databases: { name: string }[] }).databases.some((db) => db.name === 'appdb'),
      );
      await guest.cast(
        instance.id,
        'create_user',
        { users: [{ ...USER, databases: [{ name: 'appdb' }] }] },
        requestId('user'),
      );
      await waitListed('list_users', (result) =>
        (result as { users: { name: string; databases: string[] }[] }).users.some(
          (user) => user.name === USER.name && user.databases.includes('appdb'),
        ),
      );
      await forward();
      await psql(
        'CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, $$before reboots$$)',
      );
      expect(await psql('SELECT body FROM notes ORDER BY id')).toBe('before reboots');
    },
    5 * 60_000,
  );

  it(
    'keeps the rows across a soft reboot, a hard reboot and a virsh destroy/start, ACTIVE again each time',
    async () => {
      expect(instance?.status).toBe('ACTIVE');
      const { instances } = embedded.controlPlane;
      let row = 1;
      for (const hard of [false, true]) {
        const before = Date.now();
        await instances.reboot(instance.id, { hard });
        await waitActive(hard ? 'hard reboot' : 'soft reboot', before);
        await forward().catch(() => undefined); // the same QEMU process keeps its forward
        row++;
        await psqlOnceUp(`INSERT INTO notes VALUES (${row}, $$after ${hard ? 'hard' : 'soft'} reboot$$)`);
        expect(await psql('SELECT count(*) FROM notes')).toBe(String(row));
      }

      // Behind corral's back: the server watcher sees it stop; the guest comes back and resumes on its own.
      await virsh('destroy', instance.serverId!);
      await instances.waitFor(instance.id, (v) => v.status !== 'ACTIVE', { timeoutMs: 60_000 });
      const restarted = Date.now();
      await virsh('start', instance.serverId!);
      // Until the guest's first heartbeat the composite status may pass through ERROR (a running server whose
      // guest last said it was going away): wait for ACTIVE itself, not for the first settled status.
      const back = await instances.waitFor(instance.id, (v) => v.status === 'ACTIVE' && v.updatedAt > restarted, {
        timeoutMs: 8 * 60_000,
      });
      expect(back.serviceStatus).toBe('HEALTHY');
      await forward();
      expect(await psqlOnceUp('SELECT body FROM notes ORDER BY id')).toBe(
        'before reboots\nafter soft reboot\nafter hard reboot',
      );
    },
    20 * 60_000,
  );
});
