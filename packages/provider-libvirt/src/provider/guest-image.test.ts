import { describe, expect, it } from 'vitest';
import { corralGuestImage } from './guest-image.js';
import { KernelImageSchema } from './options.js';

describe('corralGuestImage', () => {
  it('points at the unpacked kernel and the initramfs, and gives the guest time to find its seed', () => {
    const image = KernelImageSchema.parse(
      corralGuestImage('/images', { seedWaitSeconds: 30, cmdline: 'corral.debug=1' }),
    );
    expect(image).toEqual({
      kind: 'kernel',
      name: 'corral-guest',
      kernel: '/images/vmlinux',
      initrd: '/images/initrd.img',
      cmdline: 'console=ttyS0 quiet corral.seedwait=30 corral.debug=1',
    });
  });
});
