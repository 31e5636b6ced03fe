import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError } from '../errors.js';
import { createLogger } from '../log.js';
import type { RunTool } from './filesystem.js';
import { volumeUuid } from './filesystem.js';
import { DataVolume } from './volume.js';

const GIB = 1024 ** 3;

/**
 * The volume logic against a fake /sys/block and fake tools (blkid, mke2fs, mount): which disk it picks, when
 * it formats and when it refuses. The real tools on a real disk run in test/agent/data-volume.test.ts.
 */
describe('DataVolume', () => {
  let root: string;
  let filesystems: Map<string, { type: string; uuid: string }>;
  let calls: string[];
  let mounts: string;

  const run: RunTool = async (command, args) => {
    calls.push([command, ...args].join(' '));
    const device = args.at(-1) ?? '';
    if (command === 'blkid') {
      const fs = filesystems.get(device);
      return fs
        ? { code: 0, stdout: `DEVNAME=${device}\nUUID=${fs.uuid}\nTYPE=${fs.type}\n`, stderr: '' }
        : { code: 2, stdout: '', stderr: '' };
    }
    if (command === 'mke2fs') {
      filesystems.set(device, { type: 'ext4', uuid: args[args.indexOf('-U') + 1] ?? '' });
      return { code: 0, stdout: '', stderr: '' };
    }
    if (command === 'mount') {
      const target = args.at(-1) ?? '';
      const source = args.at(-2) ?? '';
      writeFileSync(mounts, `${readFileSync(mounts, 'utf8')}${source} ${target} ext4 rw 0 0\n`);
      return { code: 0, stdout: '', stderr: '' };
    }
    return { code: 1, stdout: '', stderr: `unexpected ${command}` };
  };

  const disk = (name: string, serial: string | undefined, bytes: number) => {
    mkdirSync(join(root, 'sys', name), { recursive: true });
    if (serial !== undefined) writeFileSync(join(root, 'sys', name, 'serial'), serial);
    writeFileSync(join(root, 'sys', name, 'size'), String(bytes / 512));
  };

  const volume = (instanceId = 'inst-1', tools: RunTool = run) =>
    new DataVolume({
      instanceId,
      mountPoint: join(root, 'state', 'postgresql'),
      stateDir: join(root, 'state'),
      logger: createLogger('silent'),
      run: tools,
      roots: { sysBlock: join(root, 'sys'), dev: '/dev' },
      mountsFile: mounts,
      appearTimeoutMs: 300,
    });

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'corral-volume-'));
    mkdirSync(join(root, 'state'), { recursive: true });
    mounts = join(root, 'mounts');
    writeFileSync(mounts, '');
    filesystems = new Map();
    calls = [];
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('picks the disk by its serial, not its position, formats it once and mounts it on the manager dir', async () => {
    disk('vda', 'root-disk', 4 * GIB);
    disk('vdb', 'someone-else', 1 * GIB);
    disk('vdc', 'corral-0123456789abc', 1 * GIB);
    const v = volume();
    expect(await v.attach({ serial: 'corral-0123456789abc', sizeGb: 1 })).toBe('formatted');
    expect(calls.filter((c) => c.startsWith('mke2fs'))).toEqual([
      expect.stringContaining(`-U ${volumeUuid('inst-1')}`),
    ]);
    expect(calls.find((c) => c.startsWith('mke2fs'))).toMatch(/\/dev\/vdc$/);
    expect(calls.at(-1)).toBe(`mount -t ext4 -o noatime /dev/vdc ${join(root, 'state', 'postgresql')}`);
  });

  it('matches a serial cut to virtio’s 20 bytes (Nova passes the whole Cinder volume id)', async () => {
    disk('vdb', '6f1c7a2e-3b4d-4e5f-8', 2 * GIB);
    expect(await volume().attach({ serial: '6f1c7a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b', sizeGb: 2 })).toBe('formatted');
  });

  it('reuses its own filesystem without formatting, and finds it again after a reboot by its UUID', async () => {
    disk('vdb', 'corral-aaaaaaaaaaaaa', 1 * GIB);
    filesystems.set('/dev/vdb', { type: 'ext4', uuid: volumeUuid('inst-1') });
    expect(await volume().resume()).toBe(true);
    expect(calls.some((c) => c.startsWith('mke2fs'))).toBe(false);
    writeFileSync(mounts, '');
    expect(await volume().attach({ serial: 'corral-aaaaaaaaaaaaa', sizeGb: 1 })).toBe('reused');
    expect(calls.some((c) => c.startsWith('mke2fs'))).toBe(false);
  });

  it('never formats a filesystem that is not this instance’s', async () => {
    disk('vdb', 'corral-aaaaaaaaaaaaa', 1 * GIB);
    filesystems.set('/dev/vdb', { type: 'xfs', uuid: volumeUuid('another-instance') });
    await expect(volume().attach({ serial: 'corral-aaaaaaaaaaaaa', sizeGb: 1 })).rejects.toMatchObject({
      code: 'VOLUME_FOREIGN',
    });
    expect(await volume().resume()).toBe(false);
    expect(calls.some((c) => c.startsWith('mke2fs') || c.startsWith('mount'))).toBe(false);
  });

  it('refuses to format again a volume it formatted before whose filesystem blkid no longer sees', async () => {
    disk('vdb', 'corral-aaaaaaaaaaaaa', 1 * GIB);
    await volume().attach({ serial: 'corral-aaaaaaaaaaaaa', sizeGb: 1 });
    filesystems.clear();
    writeFileSync(mounts, '');
    await expect(volume().attach({ serial: 'corral-aaaaaaaaaaaaa', sizeGb: 1 })).rejects.toMatchObject({
      code: 'VOLUME_FOREIGN',
      message: expect.stringContaining('refusing to format it again'),
    });
    expect(calls.filter((c) => c.startsWith('mke2fs'))).toHaveLength(1);
  });

  it('says plainly when the volume is missing or smaller than asked', async () => {
    disk('vda', 'root-disk', 4 * GIB);
    const missing = await volume()
      .attach({ serial: 'corral-aaaaaaaaaaaaa', sizeGb: 1 })
      .catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(AgentError);
    expect(missing).toMatchObject({ code: 'VOLUME_MISSING', message: expect.stringContaining('corral-aaaaaaaaaaaaa') });
    disk('vdb', 'corral-aaaaaaaaaaaaa', 1 * GIB);
    await expect(volume().attach({ serial: 'corral-aaaaaaaaaaaaa', sizeGb: 2 })).rejects.toMatchObject({
      code: 'VOLUME_WRONG_SIZE',
    });
    expect(calls.some((c) => c.startsWith('mke2fs'))).toBe(false);
  });

  it('reports a mount failure with the tool’s words', async () => {
    disk('vdb', 'corral-aaaaaaaaaaaaa', 1 * GIB);
    const failingMount: RunTool = async (command, args, timeout) =>
      command === 'mount'
        ? { code: 255, stdout: '', stderr: 'mount: mounting /dev/vdb failed: Invalid argument' }
        : run(command, args, timeout);
    const failing = volume('inst-1', failingMount);
    await expect(failing.attach({ serial: 'corral-aaaaaaaaaaaaa', sizeGb: 1 })).rejects.toMatchObject({
      code: 'VOLUME_MOUNT_FAILED',
      message: expect.stringContaining('Invalid argument'),
    });
  });
});

describe('volumeUuid', () => {
  it('is a stable RFC 9562 version-8 UUID per instance', () => {
    expect(volumeUuid('a')).toBe(volumeUuid('a'));
    expect(volumeUuid('a')).not.toBe(volumeUuid('b'));
    expect(volumeUuid('a')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
