/**
 * The `corral` CLI as a user runs it: each command a real process (`node --import tsx packages/cli/src/bin.ts`),
 * `corral up --provider fake` a real daemon (embedded aedes with mutual TLS, SQLite, the JSON API over real
 * HTTP on 127.0.0.1) whose fake servers boot fake guests speaking the real protocol. No VMs, no setup script:
 * everything runs in temporary directories on loopback and is stopped and removed afterwards.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../packages/cli/src/program.js';

const root = resolve(import.meta.dirname, '..', '..');
const bin = join(root, 'packages', 'cli', 'src', 'bin.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function corral(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', bin, ...args],
      { cwd: root, env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

/** The CLI in this process (its `main`, as bin.ts calls it): fast, for the many small cases. */
async function corralHere(args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => out.push(String(chunk)) > 0);
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => err.push(String(chunk)) > 0);
  try {
    const code = await main(args);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    vi.restoreAllMocks();
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corral-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bad input exits non-zero with a clear message', () => {
  const cases: [string, string[], number, RegExp][] = [
    ['unknown command', ['frobnicate'], 2, /unknown command 'frobnicate'/],
    ['instance create without --flavor', ['instance', 'create', 'x'], 2, /required option '--flavor/],
    ['instance create, bad name', ['instance', 'create', 'bad name!', '--flavor', 's'], 2, /<name>: must be 1-63/],
    [
      'instance create, bad volume',
      ['instance', 'create', 'x', '--flavor', 's', '--volume-size', '-1'],
      2,
      /--volume-size/,
    ],
    ['instance show, bad id', ['instance', 'show', 'no/such'], 2, /<id>: .* must be letters/],
    ['instance delete without id', ['instance', 'delete'], 2, /missing required argument 'id'/],
    ['instance restart, bad id', ['instance', 'restart', '../x'], 2, /<id>:/],
    ['up, bad port', ['up', '--api-port', '70000'], 2, /--api-port: must be 0-65535/],
    ['up, unknown provider', ['up', '--provider', 'aws'], 2, /--provider.*invalid/i],
    ['up, missing guest image', ['up', '--image-dir', '/nonexistent'], 2, /--image-dir: .*vmlinux is missing/],
    ['datastore, unknown subcommand', ['datastore', 'drop'], 2, /unknown command 'drop'/],
    ['pki init, unknown option', ['pki', 'init', '--force'], 2, /unknown option '--force'/],
    ['agent, missing config', ['agent', '--config', '/nonexistent/user-data'], 2, /--config: cannot read/],
    ['doctor, unknown option', ['doctor', '--fix'], 2, /unknown option '--fix'/],
  ];
  it.each(cases)('%s', async (_name, args, code, message) => {
    const run = await corralHere([
      ...args,
      ...(args[0] === 'up' || args[0] === 'instance' ? ['--state-dir', dir] : []),
    ]);
    expect(run.code).toBe(code);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });
});

describe('the real executable', () => {
  it('instance list without a daemon exits 3 with the hint `corral up`', async () => {
    const run = await corral(['instance', 'list', '--state-dir', dir]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/not reachable.*corral up/);
  });
});

describe('corral up without libvirtd', () => {
  it('exits 3 naming libvirtd and pointing at corral doctor', async () => {
    const images = join(dir, 'images');
    await mkdir(images, { recursive: true });
    await writeFile(join(images, 'vmlinux'), '');
    await writeFile(join(images, 'initrd.img'), '');
    const run = await corralHere([
      'up',
      '--image-dir',
      images,
      '--libvirt-uri',
      `qemu:///system?socket=${join(dir, 'no-libvirt-sock')}`,
      '--state-dir',
      join(dir, 'no-libvirt'),
    ]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/libvirtd is not reachable.*corral doctor/);
  });
});

describe('local commands', () => {
  it('datastore list --json prints one JSON document with the catalog', async () => {
    const run = await corralHere(['datastore', 'list', '--json']);
    expect(run.code).toBe(0);
    const { datastores } = JSON.parse(run.stdout) as {
      datastores: { name: string; versions: { manager: string }[] }[];
    };
    expect(datastores.map((d) => d.name)).toEqual(['redis', 'postgresql']);
    expect(datastores[0]?.versions[0]?.manager).toBe('redis');
  });

  it('pki init is idempotent and never prints the key', async () => {
    const first = await corralHere(['--json', 'pki', 'init', '--dir', join(dir, 'pki-test')]);
    const second = await corralHere(['--json', 'pki', 'init', '--dir', join(dir, 'pki-test')]);
    expect([first.code, second.code]).toEqual([0, 0]);
    const a = JSON.parse(first.stdout) as { created: boolean; fingerprintSha256: string; certificate: string };
    const b = JSON.parse(second.stdout) as typeof a;
    expect([a.created, b.created]).toEqual([true, false]);
    expect(b.fingerprintSha256).toBe(a.fingerprintSha256);
    expect(a.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(first.stdout + second.stdout).not.toContain('PRIVATE KEY');
    expect((await stat(join(dir, 'pki-test', 'ca-key.pem'))).mode & 0o777).toBe(0o600);
  });

  it('agent --check validates a bootstrap without connecting', async () => {
    const { createCa, encodeAgentUserData } = await import('@corral/core');
    const { issueGuestCertificate } = await import('@corral/core/pki');
    const ca = await createCa();
    const guest = await issueGuestCertificate(ca, { guestId: 'g-check' });
    const file = join(dir, 'user-data');
    const config = {
      guestId: 'g-check',
      instanceId: 'i-check',
      broker: { url: 'mqtts://127.0.0.1:1', caPem: ca.certPem, certPem: guest.certPem, keyPem: guest.keyPem },
      datastore: { manager: 'redis', version: '7', port: 6379 },
      stateDir: join(dir, 'agent'),
    };
    await writeFile(file, encodeAgentUserData(config));
    const run = await corralHere(['--json', 'agent', '--check', '--config', file]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ valid: true, guestId: 'g-check', manager: 'redis' });
    expect(run.stdout).not.toContain('PRIVATE KEY');
    await writeFile(file, encodeAgentUserData({ ...config, broker: { ...config.broker, url: 'http://nope' } }));
    const bad = await corralHere(['agent', '--check', '--config', file]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/broker\.url/);
  });

  it('doctor without libvirtd names what is missing and the fix', async () => {
    const run = await corralHere([
      '--json',
      'doctor',
      '--libvirt-socket',
      join(dir, 'no-libvirt-sock'),
      '--state-dir',
      dir,
    ]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { ok: boolean; checks: { name: string; ok: boolean; fix?: string }[] };
    const libvirtd = report.checks.find((check) => check.name === 'libvirtd');
    expect(libvirtd?.ok).toBe(false);
    expect(libvirtd?.fix).toMatch(/libvirtd/);
  });
});

describe('corral up --provider fake: a real daemon', () => {
  let daemon: ChildProcess | undefined;
  const stateDir = () => join(dir, 'daemon');

  beforeAll(async () => {
    daemon = spawn(
      process.execPath,
      ['--import', 'tsx', bin, '--json', 'up', '--provider', 'fake', '--state-dir', stateDir()],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    daemon.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const ready = await new Promise<string>((resolveReady, reject) => {
      let out = '';
      daemon?.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolveReady(out);
      });
      daemon?.once('exit', (code) => reject(new Error(`corral up exited ${code}: ${stderr}`)));
      setTimeout(() => reject(new Error(`corral up not ready in 30 s: ${stderr}`)), 30_000);
    });
    expect(JSON.parse(ready)).toMatchObject({ ready: true, provider: 'fake' });
  }, 40_000);

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((done) => daemon?.once('exit', done));
      daemon.kill('SIGTERM');
      await exited;
    }
  });

  it('creates (with --wait), lists, shows, restarts, deletes; unknown ids exit 4', async () => {
    const state = ['--state-dir', stateDir()];
    const created = await corralHere([
      'instance',
      'create',
      'cli-redis',
      '--flavor',
      'small',
      '--wait',
      '--json',
      ...state,
    ]);
    expect(created.stderr).not.toMatch(/corral:/);
    expect(created.code).toBe(0);
    const view = JSON.parse(created.stdout) as { id: string; status: string; name: string };
    expect(view).toMatchObject({ name: 'cli-redis', status: 'ACTIVE' });

    const listed = await corralHere(['instance', 'list', '--json', ...state]);
    expect((JSON.parse(listed.stdout) as { items: { id: string }[] }).items.map((i) => i.id)).toContain(view.id);

    const shown = await corralHere(['instance', 'show', view.id, ...state]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/status: +ACTIVE/);

    const restarted = await corralHere(['instance', 'restart', view.id, '--json', ...state]);
    expect(restarted.code).toBe(0);
    expect((JSON.parse(restarted.stdout) as { status: string }).status).toBe('REBOOT');
    let again = '';
    for (let i = 0; i < 40 && again !== 'ACTIVE'; i++) {
      await new Promise((done) => setTimeout(done, 250));
      again = (
        JSON.parse((await corralHere(['instance', 'show', view.id, '--json', ...state])).stdout) as { status: string }
      ).status;
    }
    expect(again).toBe('ACTIVE');

    // Without --json: progress lines on stderr (not a terminal here), the instance on stdout.
    const plain = await corralHere(['instance', 'create', 'cli-plain', '--flavor', 'small', '--wait', ...state]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toMatch(/… cli-plain: BUILD/);
    expect(plain.stderr).toMatch(/✔ cli-plain: ACTIVE after [\d.]+ s/);
    expect(plain.stdout).toMatch(/status: +ACTIVE/);

    const flavor = await corralHere(['instance', 'create', 'x', '--flavor', 'huge', ...state]);
    expect(flavor.code).toBe(2);
    expect(flavor.stderr).toMatch(/flavor/);

    const deleted = await corralHere(['instance', 'delete', view.id, '--json', ...state]);
    expect(deleted.code).toBe(0);
    let gone: Run | undefined;
    for (let i = 0; i < 40; i++) {
      gone = await corralHere(['instance', 'show', view.id, ...state]);
      if (gone.code !== 0) break;
      await new Promise((done) => setTimeout(done, 250));
    }
    expect(gone?.code).toBe(4);
    expect(gone?.stderr).toMatch(/not found/);
  });

  it('stops on SIGTERM and removes its daemon file', async () => {
    expect(JSON.parse(await readFile(join(stateDir(), 'daemon.json'), 'utf8'))).toHaveProperty('url');
    const exited = new Promise<number | null>((done) => daemon?.once('exit', (code) => done(code)));
    daemon?.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(stat(join(stateDir(), 'daemon.json'))).rejects.toThrow();
    const after = await corralHere(['instance', 'list', '--state-dir', stateDir()]);
    expect(after.code).toBe(3);
    expect(after.stderr).toMatch(/corral up/);
  });
});
