import { readFileSync } from 'node:fs';
import type { Logger } from './log.js';

/** The machine's uptime when this process's clock started, so stamps have the millisecond of performance.now(). */
const uptimeAtOrigin = (() => {
  try {
    return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000 - performance.now();
  } catch {
    return Number.NaN;
  }
})();

/** Milliseconds since the machine booted: the clock of the guest's boot lines (`corral-guest: ... at N ms`). */
export function uptimeMs(): number {
  return Math.round(uptimeAtOrigin + performance.now());
}

/** When this process started, in the same clock. */
export function processStartUptimeMs(): number {
  return Math.round(uptimeAtOrigin);
}

/**
 * One log line per step of the agent's start (`timeline: <step>` with the uptime), once each: with the
 * console's boot lines they give the guest's side of a create's timeline (bench/libvirt-active.ts).
 */
export class Timeline {
  readonly #seen = new Set<string>();

  constructor(private readonly logger: Logger) {}

  mark(step: string, atUptimeMs = uptimeMs()): void {
    if (this.#seen.has(step)) return;
    this.#seen.add(step);
    this.logger.info({ timeline: step, uptimeMs: atUptimeMs }, `timeline: ${step}`);
  }
}
