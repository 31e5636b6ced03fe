import type { Logger } from 'pino';
import * as z from 'zod';
import type { ConnectOptions } from '../api/connection.js';

/** A Linux kernel and initramfs booted directly (no disk, no boot loader). */
export const KernelImageSchema = z.object({
  kind: z.literal('kernel'),
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"'),
  /** Local paths of the artifacts; they are uploaded into the pool (so a remote libvirt host works). */
  kernel: z.string().min(1),
  initrd: z.string().min(1),
  /** The kernel command line. `console=ttyS0` sends the guest's console to the per-server log file. */
  cmdline: z.string().default('console=ttyS0'),
});

/** A bootable disk image (qcow2 or raw); each server gets a qcow2 overlay on it. */
export const DiskImageSchema = z.object({
  kind: z.literal('disk'),
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"'),
  path: z.string().min(1),
  format: z.enum(['qcow2', 'raw']).default('qcow2'),
});

export const ImageConfigSchema = z.discriminatedUnion('kind', [KernelImageSchema, DiskImageSchema]);
export type ImageConfig = z.output<typeof ImageConfigSchema>;

export const FlavorConfigSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  vcpus: z.number().int().positive().max(64),
  ramMb: z.number().int().positive(),
  diskGb: z.number().int().nonnegative().default(0),
});

export const defaultFlavors = [
  { id: 'corral.micro', name: 'corral.micro', vcpus: 1, ramMb: 256, diskGb: 0 },
  { id: 'corral.small', name: 'corral.small', vcpus: 1, ramMb: 512, diskGb: 0 },
  { id: 'corral.medium', name: 'corral.medium', vcpus: 2, ramMb: 1024, diskGb: 0 },
];

export const LibvirtProviderOptionsSchema = z.object({
  uri: z.string().default('qemu:///system'),
  pool: z
    .object({ name: z.string().min(1).default('corral'), path: z.string().min(1).default('/var/lib/corral/pool') })
    .default({ name: 'corral', path: '/var/lib/corral/pool' }),
  images: z.array(ImageConfigSchema).default([]),
  flavors: z.array(FlavorConfigSchema).min(1).default(defaultFlavors),
  /** `auto` probes KVM for real (once per URI) and falls back to `qemu` (TCG) with a warning. */
  domainType: z.enum(['auto', 'kvm', 'qemu']).default('auto'),
  /** Directory on the libvirt host for the guests' serial console logs. */
  consoleLogDir: z.string().min(1).default('/var/log/corral/console'),
  /** Prefix of every domain and volume this provider makes; other domains are never touched. */
  namePrefix: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,23}$/, 'must be 1-24 lower-case letters, digits or "-"')
    .default('corral-'),
  /** How the seed ISO's cdrom is attached: virtio-scsi, SATA (q35 machine) or IDE (pc machine). */
  cdromBus: z.enum(['scsi', 'sata', 'ide']).default('scsi'),
  /** QEMU machine type; `q35` is used automatically for a SATA cdrom. */
  machine: z.string().optional(),
});

export type LibvirtProviderOptions = z.input<typeof LibvirtProviderOptionsSchema> & {
  logger?: Logger;
  /** Transport options (TLS material, ssh arguments, keepalive). */
  connection?: ConnectOptions;
};
export type ResolvedOptions = z.output<typeof LibvirtProviderOptionsSchema>;
