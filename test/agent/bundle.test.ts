/**
 * The single-file guest bundle (packages/agent/dist/corral-agent.mjs, built by `npm run build`; built here when
 * missing) runs with plain `node` from a directory without node_modules: --help, a bad configuration, and a real
 * prepare of redis (scripts/setup/30-datastores.sh) over the embedded aedes broker with mutual TLS.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControlPlane,
  cleanupGuest,
  freePort,
  type GuestSetup,
  makeGuest,
  prepareArgs,
  REPO,
  startControlPlane,
} from './harness.js';

const BUNDLE = join(REPO, 'packages/agent/dist/corral-agent.mjs');

function runBundle(bundle: string, args: string[], env: Record<string, string> = {}) {
  try {
    const stdout = execFileSync(process.execPath, [bundle, ...args], {
      cwd: tmpdir(),
      env: { PATH: '/usr/bin:/bin', CORRAL_SEED_PROBE: '0', ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr: '' };
  } catch (error) {
    const failed = error as { status: number | null; stdout: string; stderr: string };
    return { code: failed.status, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('the single-file agent bundle', () => {
  let dir: string;
  let bundle: string;
  let plane: ControlPlane | undefined;
  let guest: GuestSetup | undefined;
  let child: ChildProcess | undefined;

  beforeAll(() => {
    if (!existsSync(BUNDLE)) {
      execFileSync('npx', ['tsup', '--config', 'tsup.bundle.config.ts'], {
        cwd: join(REPO, 'packages/agent'),
        stdio: 'ignore',
      });
    }
    dir = mkdtempSync(join(tmpdir(), 'corral-bundle-'));
    bundle = join(dir, 'corral-agent.mjs');
    copyFileSync(BUNDLE, bundle);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    await cleanupGuest(guest, []);
    await plane?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is one file of reasonable size, with no node_modules beside it', () => {
    expect(existsSync(join(dir, 'node_modules'))).toBe(false);
    expect(statSync(bundle).size).toBeLessThan(4 * 1024 * 1024);
  });

  it('answers --help and --version', () => {
    const help = runBundle(bundle, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: corral-agent');
    expect(runBundle(bundle, ['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits 2 with a clear message on a bad configuration', () => {
    const result = runBundle(bundle, [], { CORRAL_GUEST_ID: 'g/1', CORRAL_BROKER_URL: 'ftp://x' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('guestId: must be 1-128 letters');
    expect(result.stderr).toContain('broker.url: must be a broker URL');
  });

  it('connects, heartbeats and prepares redis to HEALTHY', async () => {
    plane = await startControlPlane();
    guest = await makeGuest(plane, { guestId: 'bundle-guest', manager: 'redis', port: await freePort() });
    const started = spawn(process.execPath, [bundle], {
      cwd: dir,
      // The seed path, as in a guest: CORRAL_SEED_DIR holds NoCloud's user-data.
      env: { PATH: '/usr/bin:/bin', CORRAL_SEED_DIR: guest.stateDir, CORRAL_SEED_PROBE: '0' },
      stdio: 'ignore',
    });
    child = started;
    const first = await plane.waitForHeartbeat(guest.guestId, (beat) => beat.first === true, 20_000);
    expect(first.serviceStatus).toBe('INSTANCE_READY');
    await plane.service.cast(guest.guestId, 'prepare', prepareArgs('redis', { requestId: 'bundle-prepare' }));
    const report = await plane.waitForMessage(guest.guestId, 'status_report', 30_000);
    expect(report.args).toMatchObject({ serviceStatus: 'HEALTHY', requestId: 'bundle-prepare' });
  });
});
