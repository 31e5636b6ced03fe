const IDLE_AFTER_MS = 2_000;
/** Enough full collections for V8 to age out and flush the bytecode of functions run only at start-up. */
const COLLECTIONS = 8;

let pending: NodeJS.Timeout | undefined;

/**
 * Collects garbage a few times once the agent has been quiet for a moment, when node runs with `--expose-gc`
 * (the guest image does: scripts/guest-image/guest/agent-runtime.env). Start-up and a prepare leave garbage
 * and bytecode that an idle agent never needs again, and an idle process seldom collects on its own; with
 * malloc trimming at once, what is freed leaves the resident set (about 1.5 MiB). A few milliseconds of work.
 */
export function compactWhenIdle(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return;
  clearTimeout(pending);
  pending = setTimeout(() => {
    pending = undefined;
    for (let i = 0; i < COLLECTIONS; i++) gc();
  }, IDLE_AFTER_MS);
  pending.unref();
}
