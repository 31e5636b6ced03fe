/**
 * Glance on the real test cloud started by scripts/setup/60-openstack.sh: an image created, uploaded
 * (PUT /file, octet-stream), seen active with its size, and deleted.
 */
import { NotFoundError } from '@corral/core';
import { image } from '@corral/provider-openstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, demoProvider, requireCloud, unique } from './cloud.js';

const cleanup = new Cleanup();
beforeAll(requireCloud);
afterAll(() => cleanup.run());

describe('images on the real cloud', () => {
  it('uploads an image to Glance, lists it, and deletes it', async () => {
    const provider = demoProvider();
    const data = Buffer.alloc(256 * 1024, 7);
    const uploaded = await provider.uploadImage({
      name: unique('corral-upload'),
      data,
      diskFormat: 'raw',
      containerFormat: 'bare',
    });
    cleanup.add(`image ${uploaded.id}`, () => provider.deleteImage(uploaded.id));
    expect(uploaded.status).toBe('active');
    expect(uploaded.sizeBytes).toBe(data.length);
    expect((await provider.listImages()).map((entry) => entry.id)).toContain(uploaded.id);
    await provider.deleteImage(uploaded.id);
    await expect(image.getImage(await provider.client.image(), uploaded.id)).rejects.toBeInstanceOf(NotFoundError);
  });
});
