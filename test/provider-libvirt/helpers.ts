/**
 * Shared setup for the provider-libvirt suites. They need libvirtd and virtlogd running with QEMU installed:
 * scripts/setup/40-libvirt.sh installs and starts them. The bootable test image (Debian's cloud kernel and
 * a busybox initramfs) is built by fixtures/build-test-image.sh and cached under .cache/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type Libvirt, openLibvirt } from '@corral/provider-libvirt';

export const URI = 'qemu:///system';
export const SOCKET = '/var/run/libvirt/libvirt-sock';

export function testImage(): { kernel: string; initrd: string } {
  const script = fileURLToPath(new URL('./fixtures/build-test-image.sh', import.meta.url));
  const dir = execFileSync('bash', [script], { encoding: 'utf8' }).trim();
  return { kernel: `${dir}/vmlinuz`, initrd: `${dir}/initrd.img` };
}

export function requireLibvirtd(): void {
  if (!existsSync(SOCKET)) {
    throw new Error(`libvirtd is not running (${SOCKET} missing): run scripts/setup/40-libvirt.sh`);
  }
}

/** Removes every domain and volume with `prefix`, then the pool itself (its directory too). */
export async function cleanup(prefix: string, pool: { name: string; path: string }): Promise<void> {
  const lv: Libvirt = await openLibvirt(URI);
  try {
    for (const dom of await lv.domains.list()) {
      if (!dom.name.startsWith(prefix)) continue;
      await lv.domains.destroy(dom).catch(() => {});
      await lv.domains.undefine(dom).catch(() => {});
    }
    const found = await lv.connection.call('storage_pool_lookup_by_name', { name: pool.name }).catch(() => undefined);
    if (found) {
      const active = await lv.connection.call('storage_pool_is_active', { pool: found.pool });
      if (active.active === 1) {
        for (const vol of await lv.storage.listVolumes(found.pool)) await lv.storage.deleteVolume(vol);
        await lv.connection.call('storage_pool_destroy', { pool: found.pool });
      }
      await lv.connection.call('storage_pool_undefine', { pool: found.pool }).catch(() => {});
    }
    await rm(pool.path, { recursive: true, force: true });
    await rm(`/var/log/corral/test-console/${prefix}`, { recursive: true, force: true });
  } finally {
    await lv.close();
  }
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
