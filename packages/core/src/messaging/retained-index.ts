/**
 * aedes-persistence's memory store answers every SUBSCRIBE by testing each retained topic against the filter.
 * Every guest keeps a retained birth and subscribes to its own rpc topic on each connect, so one guest's
 * subscribe costs O(guests) and a fleet (re)connecting to the embedded broker O(guests²): at 2,000 guests the
 * broker spent most of a reconnect in that scan. An exact filter (no `+` or `#`, which is what guests use) needs
 * one lookup; this keeps an index of the retained messages by topic for that and leaves wildcard filters (the
 * control plane's) to the store's own scan.
 */
import { Readable } from 'node:stream';

interface RetainedPacket {
  topic: string;
  payload: Buffer | string;
}

/** The two methods of an aedes persistence this touches. */
export interface RetainedStore {
  storeRetained(packet: RetainedPacket): Promise<void>;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

const indexed = Symbol('corral.retainedIndex');

function isExact(pattern: string): boolean {
  return !pattern.includes('+') && !pattern.includes('#');
}

/**
 * Wraps the store's methods in place (once; a store passed to a later broker keeps its index). Only a store that
 * is still empty may be indexed, or the messages retained before would be missing from exact lookups: `fresh`
 * says so, and a store that is not fresh and not indexed yet is left as it is.
 */
export function indexRetainedMessages(store: RetainedStore, fresh: boolean): boolean {
  const marked = store as RetainedStore & { [indexed]?: true };
  if (marked[indexed]) return true;
  if (!fresh) return false;
  const byTopic = new Map<string, RetainedPacket>();
  const storeRetained = store.storeRetained.bind(store);
  const createRetainedStreamCombi = store.createRetainedStreamCombi.bind(store);
  store.storeRetained = async (packet) => {
    await storeRetained(packet);
    // Same rule as the store: an empty payload clears the topic's retained message.
    if (packet.payload.length === 0) byTopic.delete(packet.topic);
    else byTopic.set(packet.topic, { ...packet });
  };
  store.createRetainedStreamCombi = (patterns) => {
    if (!patterns.every(isExact)) return createRetainedStreamCombi(patterns);
    return Readable.from(patterns.flatMap((pattern) => byTopic.get(pattern) ?? []));
  };
  marked[indexed] = true;
  return true;
}
