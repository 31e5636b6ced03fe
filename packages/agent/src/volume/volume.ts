import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { AgentError } from '../errors.js';
import type { Logger } from '../log.js';
import { type BlockDevice, type DeviceRoots, findBySerial, listDisks, SYSTEM_ROOTS, sizeOf } from './device.js';
import { mountedDevice, probeFilesystem, type RunTool, runTool, VOLUME_LABEL, volumeUuid } from './filesystem.js';

/** What prepare says about the data volume: the identity the provider gave it and the size asked for. */
export interface VolumeSpec {
  serial: string;
  sizeGb: number;
}

export interface VolumeStats {
  mountPoint: string;
  device: string;
  /** The block device's size (grows before the filesystem does during a resize). */
  deviceBytes: number;
  totalBytes: number;
  usedBytes: number;
  freeBytes: number;
}

export interface DataVolumeOptions {
  instanceId: string;
  /** Where the datastore keeps its data: the manager's directory. */
  mountPoint: string;
  /** The agent's state dir: the format marker lives there (on a disk image that keeps it, it outlives boots). */
  stateDir: string;
  logger: Logger;
  run?: RunTool;
  roots?: DeviceRoots;
  mountsFile?: string;
  /** How long prepare waits for the device to show up (a hot-plugged volume appears late). Default 60 s. */
  appearTimeoutMs?: number;
}

const MarkerSchema = z.object({
  serial: z.string(),
  uuid: z.string(),
  state: z.enum(['formatting', 'formatted']),
  at: z.string(),
});
type Marker = z.infer<typeof MarkerSchema>;

const GIB = 1024 ** 3;

/**
 * The agent's data volume (Trove's guestagent volume.py): found by the serial the provider set, formatted
 * only when blkid finds nothing on it and the agent never formatted it before, mounted where the datastore
 * keeps its data, grown online, and measured for heartbeats. The filesystem's UUID is derived from the
 * instance id, so after a reboot, when the micro guest's RAM-backed state is gone, the agent finds its
 * volume again by that UUID before any prepare arrives, and a foreign filesystem is never taken for ours.
 */
export class DataVolume {
  private readonly run: RunTool;
  private readonly roots: DeviceRoots;
  private readonly uuid: string;
  private readonly markerPath: string;
  private device: string | undefined;

  constructor(private readonly options: DataVolumeOptions) {
    this.run = options.run ?? runTool;
    this.roots = options.roots ?? SYSTEM_ROOTS;
    this.uuid = volumeUuid(options.instanceId);
    this.markerPath = join(options.stateDir, 'volume.json');
  }

  get mounted(): boolean {
    return this.device !== undefined;
  }

  /**
   * At agent start: mounts this instance's volume if a disk carries its filesystem (a reboot of a prepared
   * guest). Returns whether it did. Never formats anything.
   */
  async resume(): Promise<boolean> {
    const already = mountedDevice(this.options.mountPoint, this.options.mountsFile);
    if (already !== undefined) {
      this.device = already;
      return true;
    }
    for (const disk of listDisks(this.roots)) {
      const probe = await probeFilesystem(this.run, disk.path).catch(() => undefined);
      if (probe?.uuid !== this.uuid) continue;
      await this.mount(disk.path, probe.type);
      this.options.logger.info({ device: disk.path, mountPoint: this.options.mountPoint }, 'data volume mounted again');
      return true;
    }
    return false;
  }

  /**
   * At prepare: finds the volume by its serial, checks its size, makes an ext4 filesystem only when there is
   * none and none was made before, and mounts it. 'reused' means it already held this instance's filesystem.
   */
  async attach(spec: VolumeSpec): Promise<'formatted' | 'reused'> {
    const disk = await this.waitForDevice(spec.serial);
    const wantBytes = spec.sizeGb * GIB;
    if (disk.sizeBytes < wantBytes) {
      throw new AgentError(
        'VOLUME_WRONG_SIZE',
        `data volume ${spec.serial} (${disk.path}) holds ${disk.sizeBytes} bytes; the instance asked for ${spec.sizeGb} GiB`,
      );
    }
    const mountedHere = mountedDevice(this.options.mountPoint, this.options.mountsFile);
    if (mountedHere !== undefined) {
      if (mountedHere !== disk.path) {
        throw new AgentError(
          'VOLUME_FOREIGN',
          `${this.options.mountPoint} already has ${mountedHere} mounted, not the data volume ${disk.path}`,
        );
      }
      this.device = disk.path;
      return 'reused';
    }
    const probe = await probeFilesystem(this.run, disk.path).catch((error: unknown) => {
      throw new AgentError('VOLUME_MOUNT_FAILED', (error as Error).message);
    });
    if (probe !== undefined) {
      if (probe.uuid !== this.uuid) {
        throw new AgentError(
          'VOLUME_FOREIGN',
          `data volume ${spec.serial} (${disk.path}) holds a ${probe.type} filesystem (UUID ${probe.uuid ?? 'none'}) ` +
            'that is not this instance’s: refusing to use or format it',
        );
      }
      await this.mount(disk.path, probe.type);
      return 'reused';
    }
    const marker = this.readMarker();
    if (marker?.state === 'formatted' && marker.serial === spec.serial) {
      throw new AgentError(
        'VOLUME_FOREIGN',
        `data volume ${spec.serial} (${disk.path}) was formatted at ${marker.at} but blkid finds no filesystem on it now: refusing to format it again`,
      );
    }
    await this.format(disk, spec.serial);
    await this.mount(disk.path, 'ext4');
    writeFileSync(
      join(this.options.mountPoint, '.corral-volume.json'),
      `${JSON.stringify({ instanceId: this.options.instanceId, serial: spec.serial, uuid: this.uuid, formattedAt: new Date().toISOString() })}\n`,
      { mode: 0o600 },
    );
    return 'formatted';
  }

  /** Grows the mounted filesystem online to the device's size (the provider grew the device first). */
  async grow(spec: VolumeSpec): Promise<VolumeStats> {
    const device = this.device;
    if (device === undefined) throw new AgentError('VOLUME_MISSING', 'no data volume is mounted');
    const wantBytes = spec.sizeGb * GIB;
    const deadline = Date.now() + (this.options.appearTimeoutMs ?? 60_000);
    // The kernel learns the new capacity from the virtio config change: it may lag the provider's answer.
    while (sizeOf(device, this.roots) < wantBytes) {
      if (Date.now() >= deadline) {
        throw new AgentError(
          'VOLUME_WRONG_SIZE',
          `${device} holds ${sizeOf(device, this.roots)} bytes; the resize asked for ${spec.sizeGb} GiB`,
        );
      }
      await sleep(250);
    }
    const result = await this.run('resize2fs', [device], 600_000);
    if (result.code !== 0) {
      throw new AgentError('VOLUME_RESIZE_FAILED', `resize2fs ${device}: ${lastLine(result.stderr)}`);
    }
    const stats = await this.stats();
    if (stats === undefined) throw new AgentError('VOLUME_MISSING', 'the data volume vanished during resize');
    return stats;
  }

  async stats(): Promise<VolumeStats | undefined> {
    const device = this.device;
    if (device === undefined) return undefined;
    const fs = await statfs(this.options.mountPoint);
    const totalBytes = fs.blocks * fs.bsize;
    return {
      mountPoint: this.options.mountPoint,
      device,
      deviceBytes: sizeOf(device, this.roots),
      totalBytes,
      usedBytes: totalBytes - fs.bfree * fs.bsize,
      freeBytes: fs.bavail * fs.bsize,
    };
  }

  private async waitForDevice(serial: string): Promise<BlockDevice> {
    const deadline = Date.now() + (this.options.appearTimeoutMs ?? 60_000);
    for (;;) {
      const found = findBySerial(serial, this.roots);
      if (found !== undefined && found.sizeBytes > 0) return found;
      if (Date.now() >= deadline) {
        throw new AgentError(
          'VOLUME_MISSING',
          `no block device with serial ${serial} is attached (looked in ${this.roots.sysBlock}/*/serial)`,
        );
      }
      await sleep(250);
    }
  }

  private async format(disk: BlockDevice, serial: string): Promise<void> {
    this.writeMarker({ serial, uuid: this.uuid, state: 'formatting', at: new Date().toISOString() });
    this.options.logger.info({ device: disk.path, serial }, 'data volume holds no filesystem: making ext4');
    // Lazy inode-table and journal init: the kernel finishes them in the background, mkfs returns in a second.
    const result = await this.run(
      'mke2fs',
      [
        '-t',
        'ext4',
        '-q',
        '-F',
        '-L',
        VOLUME_LABEL,
        '-U',
        this.uuid,
        '-E',
        'lazy_itable_init=1,lazy_journal_init=1',
        '-m',
        '1',
        disk.path,
      ],
      600_000,
    );
    if (result.code !== 0) {
      throw new AgentError('VOLUME_MOUNT_FAILED', `mke2fs ${disk.path}: ${lastLine(result.stderr)}`);
    }
    this.writeMarker({ serial, uuid: this.uuid, state: 'formatted', at: new Date().toISOString() });
  }

  private async mount(device: string, type: string): Promise<void> {
    mkdirSync(this.options.mountPoint, { recursive: true, mode: 0o700 });
    const result = await this.run('mount', ['-t', type, '-o', 'noatime', device, this.options.mountPoint], 120_000);
    if (result.code !== 0) {
      throw new AgentError(
        'VOLUME_MOUNT_FAILED',
        `mount ${device} at ${this.options.mountPoint}: ${lastLine(result.stderr)}`,
      );
    }
    this.device = device;
  }

  private readMarker(): Marker | undefined {
    if (!existsSync(this.markerPath)) return undefined;
    const parsed = MarkerSchema.safeParse(JSON.parse(readFileSync(this.markerPath, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  }

  private writeMarker(marker: Marker): void {
    const tmp = `${this.markerPath}.tmp`;
    writeFileSync(tmp, JSON.stringify(marker), { mode: 0o600 });
    renameSync(tmp, this.markerPath);
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').slice(-2).join(' | ') || '(no output)';
}
