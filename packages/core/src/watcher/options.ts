import * as z from 'zod';

/**
 * How the server watcher polls. Defaults suit a libvirt host and a small Nova project alike: one `listServers`
 * per provider every 10 s (±20 %), libvirt's lifecycle events on top, so a stopped server shows at once there
 * and within about one interval elsewhere.
 */
export const ServerWatcherOptionsSchema = z.object({
  /** Time between polling rounds (before jitter). */
  intervalMs: z.number().int().min(10).max(3_600_000).default(10_000),
  /** Each wait is the interval times a random factor in [1 - jitter, 1 + jitter], so processes do not align. */
  jitter: z.number().min(0).max(0.5).default(0.2),
  /** Longest pause after provider errors in a row (the pause doubles per failed round from the interval). */
  maxBackoffMs: z.number().int().min(50).max(3_600_000).default(300_000),
  /**
   * `list`: one `listServers` per provider per round, `getServer` only to confirm a server missing from the
   * list (cheap for many instances); `get`: `getServer` per instance (for a project with many foreign servers).
   */
  mode: z.enum(['list', 'get']).default('list'),
  /** `getServer` calls in flight per provider. */
  concurrency: z.number().int().min(1).max(64).default(8),
  /** Deadline of each provider call. */
  callTimeoutMs: z.number().int().min(50).max(600_000).default(30_000),
  /** Use the provider's `watchServers` event stream where it has one (polling stays on as the safety net). */
  providerEvents: z.boolean().default(true),
  /** A hint (event, a task that ended) is acted on after this pause, so a burst of events makes one read. */
  hintDelayMs: z.number().int().min(0).max(60_000).default(50),
});
export type ServerWatcherSettings = z.output<typeof ServerWatcherOptionsSchema>;
export type ServerWatcherTuning = z.input<typeof ServerWatcherOptionsSchema>;
