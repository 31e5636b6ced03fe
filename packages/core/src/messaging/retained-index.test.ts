import type { Readable } from 'node:stream';
import { Aedes } from 'aedes';
import { describe, expect, it, vi } from 'vitest';
import { indexRetainedMessages, type RetainedStore } from './retained-index.js';

async function topicsOf(stream: Readable): Promise<string[]> {
  const topics: string[] = [];
  for await (const packet of stream) topics.push((packet as { topic: string }).topic);
  return topics.sort();
}

async function memoryStore(): Promise<{ store: RetainedStore; close: () => Promise<void> }> {
  const broker = await Aedes.createBroker();
  const store = (broker as unknown as { persistence: RetainedStore }).persistence;
  return { store, close: () => new Promise((resolve) => broker.close(() => resolve())) };
}

const retained = (topic: string, payload = 'birth') => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from(payload),
  qos: 1,
  retain: true,
});

describe('retained message index of the embedded broker', () => {
  it('answers exact filters by lookup and wildcard filters by the store, with the same messages', async () => {
    const { store, close } = await memoryStore();
    try {
      // The store's own scan, spied on before the index wraps it.
      const scan = vi.spyOn(store, 'createRetainedStreamCombi');
      expect(indexRetainedMessages(store, true)).toBe(true);
      for (let i = 0; i < 50; i++) await store.storeRetained(retained(`corral/v1/guest/g${i}/state`));
      await store.storeRetained(retained('corral/v1/guest/g7/state', '')); // cleared

      expect(await topicsOf(store.createRetainedStreamCombi(['corral/v1/guest/g3/state']))).toEqual([
        'corral/v1/guest/g3/state',
      ]);
      expect(await topicsOf(store.createRetainedStreamCombi(['corral/v1/guest/g7/state']))).toEqual([]);
      expect(await topicsOf(store.createRetainedStreamCombi(['corral/v1/guest/g3/rpc']))).toEqual([]);
      const all = await topicsOf(store.createRetainedStreamCombi(['corral/v1/guest/+/state']));
      expect(all).toHaveLength(49);
      expect(all).not.toContain('corral/v1/guest/g7/state');
      // Only the wildcard filter reached the scan.
      expect(scan).toHaveBeenCalledTimes(1);
      expect(scan).toHaveBeenCalledWith(['corral/v1/guest/+/state']);
    } finally {
      await close();
    }
  });

  it('does not index a store that already holds messages, and indexes a store only once', async () => {
    const { store, close } = await memoryStore();
    try {
      await store.storeRetained(retained('corral/v1/guest/g1/state'));
      expect(indexRetainedMessages(store, false)).toBe(false);
      // Unindexed: the store's own scan still finds the message stored before.
      expect(await topicsOf(store.createRetainedStreamCombi(['corral/v1/guest/g1/state']))).toEqual([
        'corral/v1/guest/g1/state',
      ]);
      const fresh = await memoryStore();
      try {
        expect(indexRetainedMessages(fresh.store, true)).toBe(true);
        const wrapped = fresh.store.storeRetained;
        expect(indexRetainedMessages(fresh.store, false)).toBe(true);
        expect(fresh.store.storeRetained).toBe(wrapped);
      } finally {
        await fresh.close();
      }
    } finally {
      await close();
    }
  });
});
