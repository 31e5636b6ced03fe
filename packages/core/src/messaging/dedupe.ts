/**
 * A bounded window of recently seen message ids. QoS 1 delivers at least once and the transport itself
 * resends after reconnects, so receivers drop repeats by id. For calls it remembers the reply so a repeated
 * request is answered again instead of being executed twice.
 */
export interface DedupeEntry {
  /** The encoded reply to a call, once sent. */
  reply?: { topic: string; payload: Buffer };
}

export class DedupeWindow {
  private readonly entries = new Map<string, DedupeEntry & { at: number }>();

  constructor(
    private readonly capacity = 10_000,
    private readonly maxAgeMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns the earlier entry when `key` was seen, otherwise records it and returns undefined. */
  seen(key: string): DedupeEntry | undefined {
    const existing = this.entries.get(key);
    const now = this.now();
    if (existing && now - existing.at <= this.maxAgeMs) return existing;
    if (existing) this.entries.delete(key);
    this.entries.set(key, { at: now });
    this.evict(now);
    return undefined;
  }

  remember(key: string, reply: DedupeEntry['reply']): void {
    const entry = this.entries.get(key);
    if (entry) entry.reply = reply;
  }

  get size(): number {
    return this.entries.size;
  }

  private evict(now: number): void {
    // Map keeps insertion order: the oldest entries come first.
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.capacity && now - entry.at <= this.maxAgeMs) break;
      this.entries.delete(key);
    }
  }
}
