/**
 * Jittered exponential back-off ("full jitter"): attempt n waits a random time in [base·2^n / 2, base·2^n],
 * capped. The random half keeps a fleet of guests from reconnecting in lock-step after a broker restart.
 */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 200;
  const max = options.maxMs ?? 30_000;
  const random = options.random ?? Math.random;
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
