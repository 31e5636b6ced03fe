import { join } from 'node:path';
import type * as z from 'zod';
import type { KernelImageSchema } from './options.js';

export type KernelImage = z.input<typeof KernelImageSchema>;

/**
 * The image entry for corral's micro guest, as `scripts/guest-image/build.sh` writes it into `dir`: the
 * unpacked kernel (`vmlinux`: under software emulation QEMU boots it without first decompressing `vmlinuz`,
 * which costs 5-20 s) and the initramfs with Node.js, the agent and redis-server. The guest waits up to
 * `seedWaitSeconds` for its NoCloud seed, since a loaded host can be slow to show the cdrom.
 */
export function corralGuestImage(
  dir: string,
  options: { name?: string; seedWaitSeconds?: number; cmdline?: string } = {},
): KernelImage {
  return {
    kind: 'kernel',
    name: options.name ?? 'corral-guest',
    kernel: join(dir, 'vmlinux'),
    initrd: join(dir, 'initrd.img'),
    cmdline: `console=ttyS0 quiet corral.seedwait=${options.seedWaitSeconds ?? 60}${options.cmdline ? ` ${options.cmdline}` : ''}`,
  };
}
