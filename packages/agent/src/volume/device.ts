import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { basename, join } from 'node:path';

/** Virtio-blk keeps at most 20 bytes of a disk's serial: Nova's volume ids arrive cut to that length. */
export const VIRTIO_SERIAL_BYTES = 20;

export interface BlockDevice {
  /** `/dev/vdb` */
  path: string;
  sizeBytes: number;
}

export interface DeviceRoots {
  /** `/sys/block` */
  sysBlock: string;
  /** `/dev` */
  dev: string;
}

export const SYSTEM_ROOTS: DeviceRoots = { sysBlock: '/sys/block', dev: '/dev' };

/**
 * Finds the block device whose serial is the one the provider set (libvirt's `<serial>`, Nova's volume id as
 * the virtio serial), through the kernel's own record (`/sys/block/X/serial`), or udev's
 * `/dev/disk/by-id/virtio-<serial>` where an image runs udev. Never by position ("the second disk"):
 * devices are numbered in the order they were found, which a hot-plug or an extra cdrom changes.
 */
export function findBySerial(serial: string, roots: DeviceRoots = SYSTEM_ROOTS): BlockDevice | undefined {
  const wanted = serial.slice(0, VIRTIO_SERIAL_BYTES);
  const byId = join(roots.dev, 'disk', 'by-id', `virtio-${wanted}`);
  if (existsSync(byId)) {
    const name = basename(realpathSync(byId));
    return { path: join(roots.dev, name), sizeBytes: sizeOf(name, roots) };
  }
  let names: string[];
  try {
    names = readdirSync(roots.sysBlock);
  } catch {
    return undefined;
  }
  for (const name of names) {
    const found =
      readTrimmed(join(roots.sysBlock, name, 'serial')) ?? readTrimmed(join(roots.sysBlock, name, 'device', 'serial'));
    if (found !== undefined && found.slice(0, VIRTIO_SERIAL_BYTES) === wanted) {
      return { path: join(roots.dev, name), sizeBytes: sizeOf(name, roots) };
    }
  }
  return undefined;
}

/** Every whole disk the kernel knows (`/sys/block`), loop and ram devices aside. */
export function listDisks(roots: DeviceRoots = SYSTEM_ROOTS): BlockDevice[] {
  let names: string[];
  try {
    names = readdirSync(roots.sysBlock);
  } catch {
    return [];
  }
  return names
    .filter((name) => !/^(loop|ram|zram|sr)\d/.test(name))
    .map((name) => ({ path: join(roots.dev, name), sizeBytes: sizeOf(name, roots) }));
}

/** The device's size now: the kernel updates it when the disk grows under a running guest. */
export function sizeOf(name: string, roots: DeviceRoots = SYSTEM_ROOTS): number {
  const sectors = Number(readTrimmed(join(roots.sysBlock, basename(name), 'size')) ?? 0);
  return Number.isFinite(sectors) ? sectors * 512 : 0;
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').replace(/\0/g, '').trim();
  } catch {
    return undefined;
  }
}
