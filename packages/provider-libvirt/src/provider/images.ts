import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Libvirt } from '../api/index.js';
import type { PoolRef } from '../api/storage.js';
import type { ImageConfig } from './options.js';

const digests = new Map<string, { stamp: string; digest: string }>();

/** The file's content digest, recomputed only when its size or mtime changed. */
async function fileDigest(path: string): Promise<{ digest: string; size: number }> {
  const { size, mtimeMs } = await stat(path);
  const stamp = `${size}:${mtimeMs}`;
  const known = digests.get(path);
  if (known?.stamp === stamp) return { digest: known.digest, size };
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const digest = hash.digest('hex').slice(0, 12);
  digests.set(path, { stamp, digest });
  return { digest, size };
}

export interface ImageVolumes {
  kernelPath?: string;
  initrdPath?: string;
  /** The base volume's name (disk images). */
  baseVolume?: string;
}

/**
 * Makes sure an image's artifacts are volumes in the pool, uploading them over libvirt streams when missing.
 * Volume names carry the content digest, so a changed file gets a new volume and servers on the old one keep it.
 */
export async function ensureImageVolumes(
  libvirt: Libvirt,
  pool: PoolRef,
  prefix: string,
  image: ImageConfig,
): Promise<ImageVolumes> {
  const upload = async (path: string, role: string, format: 'raw' | 'qcow2') => {
    const { digest, size } = await fileDigest(path);
    const name = `${prefix}image-${image.name}-${role}-${digest}`;
    let vol = await libvirt.storage.findVolume(pool, name);
    if (!vol) {
      // Upload under a staging name, then clone to the final name: a crash mid-upload can never leave a
      // half-written volume under a name later runs would trust.
      const staging = `${name}.partial-${process.pid}-${Date.now()}`;
      const partial = await libvirt.storage.createVolumeFrom(pool, staging, createReadStream(path), size, format);
      try {
        vol = await libvirt.storage.cloneVolume(pool, name, partial, format);
      } catch (error) {
        vol = await libvirt.storage.findVolume(pool, name); // a concurrent upload won the race
        if (!vol) throw error;
      } finally {
        await libvirt.storage.deleteVolume(partial).catch(() => {});
      }
      await libvirt.storage.refresh(pool);
    }
    return { vol, path: await libvirt.storage.path(vol) };
  };
  if (image.kind === 'kernel') {
    const kernel = await upload(image.kernel, 'kernel', 'raw');
    const initrd = await upload(image.initrd, 'initrd', 'raw');
    return { kernelPath: kernel.path, initrdPath: initrd.path };
  }
  const base = await upload(image.path, 'disk', image.format);
  return { baseVolume: base.vol.name };
}
