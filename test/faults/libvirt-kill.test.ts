/**
 * The embedded control plane on the real libvirtd, SIGKILLed where a kill used to leak (issue 13, item 3),
 * then started again on the same state dir:
 *   - during the KVM probe (right after its transient domain started; run under TCG so it makes a domain on a
 *     host without KVM too): the probe domain must not outlive the process (libvirtd auto-destroys it with the
 *     connection; the sweep of older leftovers on the next start is in test/provider-libvirt/kvm-probe.test.ts);
 *   - in the middle of a delete: right after the domain is undefined, and right after the first volume is
 *     deleted. The resumed delete must leave no domain, no volume (seed ISO: it holds the guest's private key)
 *     and no console log of the server, and the instance ends DELETED.
 * The control plane runs in libvirt-child.ts, which stops right after the chosen libvirt call returned.
 * Guests boot the provider-libvirt test image (they never connect: the instances are force-deleted).
 * Needs scripts/setup/40-libvirt.sh.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Libvirt, openLibvirt } from '@corral/provider-libvirt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, requireLibvirtd, testImage, URI, waitFor } from '../provider-libvirt/helpers.js';
import type { LibvirtChildConfig } from './libvirt-child.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const prefix = `corralkill${process.pid % 100000}-`;
const pool = { name: `${prefix}pool`, path: `/var/lib/corral/test-pools/${prefix}pool` };
const consoleLogDir = `/var/log/corral/test-console/${prefix}`;

interface ControlPlaneChild {
  process: ChildProcess;
  send(command: string): void;
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(): Promise<void>;
}

describe('control plane SIGKILLed at libvirt steps that used to leak', () => {
  let dir: string;
  let lv: Libvirt;
  const children: ControlPlaneChild[] = [];
  let base: LibvirtChildConfig;

  beforeAll(async () => {
    requireLibvirtd();
    dir = mkdtempSync(join(tmpdir(), 'corral-libvirt-kill-'));
    lv = await openLibvirt(URI);
    const { kernel, initrd } = testImage();
    base = {
      stateDir: join(dir, 'state'),
      uri: URI,
      namePrefix: prefix,
      pool,
      consoleLogDir,
      image: { kernel, initrd },
      domainType: 'qemu',
    };
  });

  afterAll(async () => {
    for (const child of children) await child.kill();
    await lv?.close();
    await cleanup(prefix, pool);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let serial = 0;
  async function start(overrides: Partial<LibvirtChildConfig> = {}): Promise<ControlPlaneChild> {
    const file = join(dir, `child-${serial++}.json`);
    writeFileSync(file, JSON.stringify({ ...base, ...overrides }), { mode: 0o600 });
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'libvirt-child.ts')], {
      env: { ...process.env, CORRAL_CHILD_CONFIG: file },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      lines.push(...parts);
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const handle: ControlPlaneChild = {
      process: child,
      send: (command) => child.stdin?.write(`${command}\n`),
      line: (pattern, timeoutMs = 120_000) =>
        waitFor(`a line ${pattern} (got: ${lines.join(' | ')})`, timeoutMs, async () => {
          const failed = lines.find((l) => l.startsWith('FAILED'));
          if (failed) throw new Error(failed);
          const index = lines.findIndex((l) => pattern.test(l));
          return index === -1 ? undefined : lines.splice(index, 1)[0];
        }),
      async kill() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    };
    children.push(handle);
    await handle.line(/^READY$/, 60_000);
    return handle;
  }

  const word = (line: string, index: number) => line.split(' ')[index] as string;
  const domainNames = async () => (await lv.domains.list()).map((dom) => dom.name);
  const poolVolumes = async () =>
    (await lv.storage.listVolumes(await lv.storage.ensureDirPool(pool.name, pool.path))).map((vol) => vol.name);

  /** Creates an instance and returns it with its server's domain name. */
  async function createServer(child: ControlPlaneChild, name: string) {
    child.send(`create ${name}`);
    const id = word(await child.line(/^CREATED /), 1);
    child.send(`server ${id}`);
    const serverId = word(await child.line(new RegExp(`^SERVER ${id} `)), 2);
    const domain = (await lv.domains.lookupByUuid(serverId)).name;
    return { id, domain };
  }

  async function expectNothingLeftOf(domain: string): Promise<void> {
    expect(await domainNames()).not.toContain(domain);
    expect((await poolVolumes()).filter((name) => name.startsWith(`${domain}-`))).toEqual([]);
    expect(existsSync(join(consoleLogDir, `${domain}.log`)), 'console log removed').toBe(false);
  }

  it('killed during the KVM probe: the probe domain does not outlive the process', { timeout: 120_000 }, async () => {
    const child = await start({ probeOnly: true, killAfter: { procedure: 'domain_create_xml', count: 1 } });
    const probe = word(await child.line(/^AT domain_create_xml |^PROBED /), 2);
    expect(probe.startsWith(`${prefix}kvm-probe-`)).toBe(true);
    // Paused, the probe guest can never end itself (panic, reset, on_reboot=destroy): only cleanup removes it.
    await lv.connection.call('domain_suspend', { dom: await lv.domains.lookupByName(probe) });
    await child.kill();
    await waitFor(`${probe} to be gone after the kill`, 30_000, async () =>
      (await domainNames()).includes(probe) ? undefined : true,
    );
  });

  it('killed right after undefining the domain: the resumed delete removes its seed, disk and log', {
    timeout: 240_000,
  }, async () => {
    const killed = await start({ killAfter: { procedure: 'domain_undefine_flags', count: 1, onDelete: true } });
    const first = await createServer(killed, 'kill-undefine');
    expect((await poolVolumes()).filter((name) => name.startsWith(`${first.domain}-`))).not.toEqual([]);
    killed.send(`delete ${first.id}`);
    await killed.line(/^AT domain_undefine_flags /);
    await killed.kill();

    const resumed = await start();
    resumed.send(`deleted ${first.id}`);
    await resumed.line(new RegExp(`^DELETED ${first.id}$`));
    await expectNothingLeftOf(first.domain);
    await resumed.kill();
  });

  it('killed right after the first volume of a delete: the resumed delete finishes it', {
    timeout: 240_000,
  }, async () => {
    const killed = await start({ killAfter: { procedure: 'storage_vol_delete', count: 1, onDelete: true } });
    const second = await createServer(killed, 'kill-volumes');
    killed.send(`delete ${second.id}`);
    await killed.line(/^AT storage_vol_delete /);
    await killed.kill();

    const resumed = await start();
    resumed.send(`deleted ${second.id}`);
    await resumed.line(new RegExp(`^DELETED ${second.id}$`));
    await expectNothingLeftOf(second.domain);
    // No duplicate server was ever made, and none is left: every domain of ours is gone.
    expect((await domainNames()).filter((name) => name.startsWith(prefix))).toEqual([]);
    await resumed.kill();
  });
});
