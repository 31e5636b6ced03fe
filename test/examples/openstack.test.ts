/**
 * examples/openstack.ts --until server-active, run as a user runs it (a child process, OS_* variables for
 * credentials) against provider-openstack's in-process fake cloud (Keystone/Nova/Glance/Neutron on 127.0.0.1,
 * Zed-shaped answers). The real test cloud (test/openstack-cloud/setup.sh) is covered by the provider's own
 * suites; this checks the example's flow: create through the control plane, Nova ACTIVE, the bootstrap read
 * back as admin. No setup script needed.
 * The delete leg runs too: the server must be gone from the cloud afterwards. `--until active` (no guest ever
 * reports on the fake cloud) must give up before the control plane's build deadline and delete what it made.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeCloud } from '../../packages/provider-openstack/src/testing/fake-cloud.js';

const root = resolve(import.meta.dirname, '..', '..');

describe('examples/openstack.ts --until server-active', () => {
  let cloud: FakeCloud;
  let dir: string;
  beforeAll(async () => {
    cloud = await new FakeCloud({ activeAfterMs: 300, deleteAfterMs: 200 }).start();
    dir = await mkdtemp(join(tmpdir(), 'corral-openstack-example-'));
  });
  afterAll(async () => {
    await cloud.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs the example as a user would: a child process, credentials in OS_* variables. */
  function runExample(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const { OS_CLOUD: _unused, ...env } = process.env;
    return new Promise((done) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'examples/openstack.ts', ...args, '--state-dir', dir],
        {
          cwd: root,
          timeout: 90_000,
          env: {
            ...env,
            OS_AUTH_URL: cloud.authUrl,
            OS_USERNAME: 'admin',
            OS_PASSWORD: 'secret',
            OS_USER_DOMAIN_NAME: 'Default',
            OS_PROJECT_NAME: 'admin',
            OS_PROJECT_DOMAIN_NAME: 'Default',
          },
        },
        (error, stdout, stderr) => done({ code: error ? 1 : 0, stdout, stderr }),
      );
    });
  }
  const liveServers = () => [...cloud.servers.values()].filter((server) => server.deletedAt === undefined);

  it('creates the server through the control plane, sees it ACTIVE with its bootstrap, and deletes it', async () => {
    const run = await runExample(['--image', 'corral-test-image', '--flavor', 'm1.tiny', '--until', 'server-active']);
    expect(run.stderr).not.toMatch(/failed/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/server \S+ is ACTIVE in Nova/);
    expect(run.stdout).toMatch(
      /bootstrap delivered: guest \S+, broker mqtts:\/\/10\.0\.2\.2:\d+, manager redis, certificate and key present/,
    );
    expect(run.stdout).not.toContain('PRIVATE KEY');
    expect(run.stdout).toMatch(/deleted: the server is gone/);
    expect(liveServers()).toHaveLength(0);
  });

  it('--until active gives up before the build deadline and deletes the server it made', async () => {
    // The fake cloud's servers boot nothing: no guest ever reports, so the example must give up (after 3 s).
    const before = cloud.servers.size;
    const run = await runExample([
      '--image',
      'corral-test-image',
      '--flavor',
      'm1.tiny',
      '--until',
      'active',
      '--timeout-minutes',
      '0.05',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/openstack example failed: gave up after 0\.05 min/);
    // It gave up while the instance was still building (its build deadline is a minute later)…
    expect(run.stdout).not.toMatch(/ERROR/);
    // …and deleted what it made.
    expect(run.stdout).toMatch(/cleaning up \S+ after: gave up/);
    expect(run.stdout).toMatch(/deleted: the server is gone/);
    expect(cloud.servers.size).toBe(before + 1);
    expect(liveServers()).toHaveLength(0);
  });
});
