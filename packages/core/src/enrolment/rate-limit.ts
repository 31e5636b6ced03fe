/**
 * A fixed-window limit: at most `maxRequests` requests per source address, and at most `maxFailures` counted
 * refusals per key per window. The server counts token refusals by (source, claimed guest), so one guest that
 * keeps failing is refused without its neighbours behind the same address being refused too. Tokens are 256-bit MACs, so guessing is hopeless anyway; the limit is against a guest (or anything
 * else that reaches the port) burning the control plane's CPU on CSR checks and signatures.
 *
 * Behind QEMU user-mode networking every libvirt guest arrives from 127.0.0.1, so the defaults are sized for
 * a whole host's guests enrolling at once, not for one guest.
 */
export interface RateLimitOptions {
  /** Default 60 s. */
  windowMs?: number;
  /** Requests per source per window (default 600). */
  maxRequests?: number;
  /** Counted refusals per key per window before the key is refused outright (default 60). */
  maxFailures?: number;
  clock?: () => number;
}

export type Admission = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Window {
  startedAt: number;
  requests: number;
  failures: number;
}

export class SourceRateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;
  private readonly maxRequests: number;
  private readonly maxFailures: number;
  private readonly clock: () => number;

  constructor(options: RateLimitOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxRequests = options.maxRequests ?? 600;
    this.maxFailures = options.maxFailures ?? 60;
    this.clock = options.clock ?? Date.now;
  }

  /** Counts a request; returns the milliseconds until the source may try again when it is over a limit. */
  admit(source: string): Admission {
    const window = this.current(source);
    if (window.requests >= this.maxRequests || window.failures >= this.maxFailures) {
      return { allowed: false, retryAfterMs: window.startedAt + this.windowMs - this.clock() };
    }
    window.requests++;
    return { allowed: true };
  }

  /** Whether `key` (e.g. source and claimed guest) is under its refusal limit; counts no request. */
  check(key: string): Admission {
    const window = this.current(key);
    if (window.failures >= this.maxFailures) {
      return { allowed: false, retryAfterMs: window.startedAt + this.windowMs - this.clock() };
    }
    return { allowed: true };
  }

  /** Counts a refusal against `key` (a source, or a source and claimed guest). */
  failed(key: string): void {
    this.current(key).failures++;
  }

  private current(source: string): Window {
    const now = this.clock();
    let window = this.windows.get(source);
    if (window === undefined || now - window.startedAt >= this.windowMs) {
      // Forget finished windows now and then, so a scan from many sources cannot grow the map for good.
      if (this.windows.size > 10_000) {
        for (const [key, old] of this.windows) if (now - old.startedAt >= this.windowMs) this.windows.delete(key);
      }
      window = { startedAt: now, requests: 0, failures: 0 };
      this.windows.set(source, window);
    }
    return window;
  }
}
