import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import * as z from 'zod';

/**
 * The idempotency journal: request id → outcome, appended to a JSON-lines file and fsync'd before the agent
 * acts (a `started` line) and before it answers (a `done` line). A redelivered request gets the stored outcome
 * instead of running again, also after an agent restart; a request whose `started` line has no `done` line
 * from an earlier boot was cut off by a crash and is reported as interrupted, never re-run.
 */

export const OutcomeSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);
export type Outcome = z.infer<typeof OutcomeSchema>;

const LineSchema = z.object({
  id: z.string(),
  method: z.string(),
  bootId: z.string(),
  at: z.string(),
  state: z.enum(['started', 'done']),
  outcome: OutcomeSchema.optional(),
});
export type JournalEntry = z.infer<typeof LineSchema>;

export interface JournalOptions {
  /** Entries kept when the file is compacted at open (oldest dropped first). */
  maxEntries?: number;
}

export class Journal {
  private readonly entries = new Map<string, JournalEntry>();
  private fd: number;

  private constructor(
    readonly path: string,
    readonly bootId: string,
    private readonly maxEntries: number,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.load();
    this.compact();
    this.fd = openSync(path, 'a', 0o600);
  }

  /** Opens (or creates) the journal. `bootId` tells this run's requests from those of a run that died. */
  static open(path: string, bootId: string, options: JournalOptions = {}): Journal {
    return new Journal(path, bootId, options.maxEntries ?? 1000);
  }

  get(id: string): JournalEntry | undefined {
    return this.entries.get(id);
  }

  /** Was this request started by an earlier run of the agent that never finished it? */
  isInterrupted(entry: JournalEntry): boolean {
    return entry.state === 'started' && entry.bootId !== this.bootId;
  }

  begin(id: string, method: string): void {
    this.append({ id, method, bootId: this.bootId, at: new Date().toISOString(), state: 'started' });
  }

  finish(id: string, method: string, outcome: Outcome): void {
    this.append({ id, method, bootId: this.bootId, at: new Date().toISOString(), state: 'done', outcome });
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private append(entry: JournalEntry): void {
    if (this.fd < 0) throw new Error('journal is closed');
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    fsyncSync(this.fd);
    this.entries.delete(entry.id); // re-insert: Map order is then "last touched", which compaction keeps.
    this.entries.set(entry.id, entry);
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      // A torn last line (power cut mid-write) is skipped; every complete line before it counts.
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      const entry = LineSchema.safeParse(parsed);
      if (!entry.success) continue;
      this.entries.delete(entry.data.id);
      this.entries.set(entry.data.id, entry.data);
    }
  }

  /** Rewrites the file with one line per request (the newest `maxEntries`): write, fsync, rename. */
  private compact(): void {
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      for (const entry of this.entries.values()) writeSync(fd, `${JSON.stringify(entry)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
