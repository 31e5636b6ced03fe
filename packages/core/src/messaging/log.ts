/** Logging helpers: the transport logs through pino, and repeated warnings (malformed floods) are rate limited. */
import { type Logger, pino } from 'pino';

export type MessagingLogger = Logger;

export const silentLogger = (): MessagingLogger => pino({ level: 'silent' });

/**
 * Logs the first event of each key, then at most one line per interval carrying how many were suppressed,
 * so a flood of bad messages costs a few lines instead of filling the disk.
 */
export class RateLimitedLog {
  private readonly state = new Map<string, { last: number; suppressed: number }>();

  constructor(
    private readonly logger: MessagingLogger,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    const entry = this.state.get(key);
    if (entry && now - entry.last < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.state.set(key, { last: now, suppressed: 0 });
    this.logger.warn({ ...fields, suppressed }, message);
  }
}
