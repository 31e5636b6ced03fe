import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where the guest image's init mounts the bootstrap media (NoCloud seed, OpenStack config drive). */
export const DEFAULT_SEED_DIRS = ['/run/corral/seed', '/run/corral/config-drive'];
export const SEED_LABELS = ['cidata', 'CIDATA', 'config-2', 'CONFIG-2'];

/** The user-data file inside a mounted seed: NoCloud's `user-data` or a config drive's `openstack/latest/user_data`. */
export function userDataPath(seedDir: string): string | undefined {
  for (const candidate of [join(seedDir, 'user-data'), join(seedDir, 'openstack', 'latest', 'user_data')]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export function readSeedUserData(seedDir: string): { path: string; text: string } | undefined {
  const path = userDataPath(seedDir);
  return path === undefined ? undefined : { path, text: readFileSync(path, 'utf8') };
}

/** Parses `blkid` output (util-linux or busybox: `/dev/sr0: LABEL="cidata" TYPE="iso9660"`) into device → label. */
export function parseBlkid(output: string): Array<{ device: string; label: string; type?: string }> {
  const devices: Array<{ device: string; label: string; type?: string }> = [];
  for (const line of output.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const device = line.slice(0, colon).trim();
    const label = /\bLABEL="([^"]*)"/.exec(line)?.[1];
    const type = /\bTYPE="([^"]*)"/.exec(line)?.[1];
    if (device && label !== undefined) devices.push({ device, label, ...(type ? { type } : {}) });
  }
  return devices;
}

/**
 * Finds a block device labelled cidata or config-2 and mounts it read-only under /run/corral, for guests whose
 * init did not mount it. Returns the mount point, or undefined when there is no such device (or no blkid).
 */
export async function mountSeedDevice(timeoutMs = 5000): Promise<string | undefined> {
  let output: string;
  try {
    output = (await run('blkid', [], { timeout: timeoutMs })).stdout;
  } catch (error) {
    // blkid exits 2 when it finds nothing; its stdout is still what we want.
    output = (error as { stdout?: string }).stdout ?? '';
  }
  const found = parseBlkid(output).find((device) => SEED_LABELS.includes(device.label));
  if (!found) return undefined;
  const target = found.label.toLowerCase() === 'cidata' ? DEFAULT_SEED_DIRS[0] : DEFAULT_SEED_DIRS[1];
  if (target === undefined) return undefined;
  if (userDataPath(target)) return target;
  mkdirSync(target, { recursive: true });
  await run('mount', ['-o', 'ro', ...(found.type ? ['-t', found.type] : []), found.device, target], {
    timeout: timeoutMs,
  });
  return target;
}
