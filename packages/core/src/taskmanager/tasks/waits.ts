import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceStatusEvent } from '../../instance/events.js';
import { NotFoundError, ProviderError } from '../../provider/errors.js';
import type { Provider, Server } from '../../provider/types.js';
import type { FlowDeps, ServiceStatusMark } from './deps.js';
import { StepError } from './flow.js';

/**
 * The waits of the flows. None of them polls the store: a wait subscribes to the status bus first, reads the
 * current status once (so an event written just before cannot be missed), then reacts to events. The provider
 * is watched alongside (its own events, or a slow poll of the provider when it has none) so that a server in
 * ERROR fails the wait at once, keeping the provider's fault.
 */

export const GUEST_HEALTHY = 'HEALTHY';
export const GUEST_FAILED = 'FAILED';

/** True when (bootId, seq) `a` is newer than `b`: another boot counts as newer, then the sequence decides. */
export function isNewer(a: ServiceStatusMark, b: ServiceStatusMark | undefined): boolean {
  if (b === undefined || b.bootId === undefined || b.bootId === null) return true;
  if (a.bootId !== b.bootId) return a.bootId !== undefined && a.bootId !== null;
  return (a.seq ?? -1) > (b.seq ?? -1);
}

export interface AwaitStatusOptions {
  instanceId: string;
  /** Epoch ms after which the wait fails with `timeoutStatus`. */
  deadlineAt: number;
  /** Only statuses newer than this mark count (a restart must not be satisfied by the heartbeat before it). */
  after?: ServiceStatusMark;
  /** Only statuses from another boot than the mark's (after a reboot: the old boot's last heartbeats do not count). */
  newBoot?: boolean;
  /** Watched for ERROR while waiting. */
  server?: { provider: Provider; id: string };
  timeoutStatus: string;
  guestFailedStatus: string;
  serverErrorStatus: string;
  signal: AbortSignal;
  what: string;
  /**
   * Sees each status (newer than `after`) before it is judged; `'ignore'` skips it. The create flow uses it to
   * prepare a guest that restarted mid-prepare again (create.ts, `reprepareOnNewBoot`).
   */
  onStatus?: (mark: ServiceStatusMark) => 'ignore' | undefined;
}

/** Waits until the guest reports HEALTHY (newer than `after`); fails fast on FAILED or a server in ERROR. */
export async function awaitHealthy(deps: FlowDeps, options: AwaitStatusOptions): Promise<ServiceStatusMark> {
  const local = new AbortController();
  const onAbort = () => local.abort(options.signal.reason);
  options.signal.addEventListener('abort', onAbort, { once: true });
  const judge = (mark: ServiceStatusMark): ServiceStatusMark | Error | undefined => {
    if (options.after !== undefined && !isNewer(mark, options.after)) return undefined;
    if (options.newBoot && options.after?.bootId && mark.bootId === options.after.bootId) return undefined;
    if (options.onStatus?.(mark) === 'ignore') return undefined;
    if (mark.status === GUEST_HEALTHY) return mark;
    if (mark.status === GUEST_FAILED) {
      return new StepError(`the guest reported ${GUEST_FAILED} while ${options.what}`, {
        taskStatus: options.guestFailedStatus,
      });
    }
    return undefined;
  };
  const subscription = deps.events.waitFor(
    options.instanceId,
    (event) => (event.kind === 'service-status' ? judge(markOf(event)) : undefined),
    { signal: local.signal },
  );
  try {
    const current = await deps.instances.serviceStatus(options.instanceId);
    const now = current === undefined ? undefined : judge(current);
    if (now !== undefined) {
      subscription.cancel();
      if (now instanceof Error) throw now;
      return now;
    }
    const racers: Promise<ServiceStatusMark | Error>[] = [
      subscription.promise,
      deadline(options.deadlineAt, local.signal).then(
        () =>
          new StepError(`timed out ${options.what}`, {
            taskStatus: options.timeoutStatus,
            details: `no ${GUEST_HEALTHY} status from the guest by ${new Date(options.deadlineAt).toISOString()}`,
          }),
      ),
    ];
    if (options.server !== undefined) {
      racers.push(
        watchForError(options.server.provider, options.server.id, deps.timeouts.providerPollMs, local.signal).then(
          (server) =>
            new StepError(server.fault?.message ?? `the server went to ERROR while ${options.what}`, {
              taskStatus: options.serverErrorStatus,
              details: JSON.stringify({ serverId: server.id, fault: server.fault ?? null }),
            }),
        ),
      );
    }
    const result = await Promise.race(racers);
    if (result instanceof Error) throw result;
    return result;
  } finally {
    local.abort(new Error('wait over'));
    subscription.cancel();
    subscription.promise.catch(() => {});
    options.signal.removeEventListener('abort', onAbort);
  }
}

function markOf(event: ServiceStatusEvent): ServiceStatusMark {
  return { status: event.status, bootId: event.bootId, seq: event.seq };
}

/**
 * Resolves at `at` (epoch ms), or never once the signal aborts: only for a racer whose race is over when the
 * signal aborts. A pause that something awaits takes `pause`, which settles on abort.
 */
export function deadline(at: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, at - Date.now()));
    signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  });
}

/**
 * Waits `ms`, or rejects at once when `signal` aborts, with the signal's reason: a step in back-off must settle
 * when its lease is lost or the manager stops (the manager waits on running steps).
 */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(Math.max(0, ms), undefined, { signal });
  } catch (error) {
    // timers/promises rejects with its own AbortError; the caller wants the reason it was aborted for.
    throw signal.aborted ? signal.reason : error;
  }
}

/** A provider error worth asking again about (5xx, 429, a timeout): the provider says so on the error. */
export function isTransientProviderError(error: unknown): error is ProviderError {
  return error instanceof ProviderError && error.retryable;
}

/**
 * The pause before asking the provider again after a transient error: its Retry-After if it gave one, else
 * `baseMs` doubled per failure in a row, capped at 30 s (Trove's own poll back-off tops out there).
 */
export function backoffMs(error: ProviderError, failures: number, baseMs: number): number {
  const retryAfter = 'retryAfterMs' in error && typeof error.retryAfterMs === 'number' ? error.retryAfterMs : 0;
  return Math.max(retryAfter, Math.min(30_000, Math.max(50, baseMs) * 2 ** Math.min(failures, 10)));
}

/**
 * Runs `call`, asking again after transient provider errors with back-off until `deadlineAt` (then the last
 * error is thrown). A permanent error (a fault, NotFound, a refusal) is thrown at once.
 */
export async function retryTransient<T>(
  call: () => Promise<T>,
  options: { deadlineAt: number; baseMs: number; signal: AbortSignal },
): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await call();
    } catch (error) {
      if (!isTransientProviderError(error) || options.signal.aborted) throw error;
      const waitMs = backoffMs(error, failures, options.baseMs);
      if (Date.now() + waitMs >= options.deadlineAt) throw error;
      await pause(waitMs, options.signal);
    }
  }
}

/**
 * Resolves with the server once it is in ERROR; never resolves otherwise (until the signal aborts). A transient
 * provider error (a 502 from one poll, a 429) does not end the watch: it is taken up again after a back-off, so
 * a server that goes to ERROR after the provider hiccuped still fails the wait at once with its fault.
 */
export function watchForError(provider: Provider, id: string, pollMs: number, signal: AbortSignal): Promise<Server> {
  return new Promise((resolve) => {
    void (async () => {
      for (let failures = 0; !signal.aborted; ) {
        try {
          for await (const server of serverStates(provider, id, pollMs, signal)) {
            failures = 0;
            if (server.status === 'ERROR') {
              resolve(server);
              return;
            }
          }
          return;
        } catch (error) {
          // A permanent failure of the watch (NotFound, a refusal) is no verdict; the deadline still holds.
          if (!isTransientProviderError(error)) return;
          // Aborted in back-off: the loop ends (the wait this watch serves is over).
          await pause(backoffMs(error, failures++, pollMs), signal).catch(() => undefined);
        }
      }
    })();
  });
}

/** The server's states: the provider's own watch where it has one, a slow poll of the provider otherwise. */
export async function* serverStates(
  provider: Provider,
  id: string,
  pollMs: number,
  signal: AbortSignal,
): AsyncGenerator<Server> {
  if (provider.watchServer !== undefined) {
    yield* provider.watchServer(id, { signal, intervalMs: pollMs });
    return;
  }
  while (!signal.aborted) {
    yield await provider.getServer(id, { signal });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollMs);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
}

/**
 * Waits until the provider no longer has the server (NotFound, or DELETED). Fails with `errorStatus` at
 * `deadlineAt`, or with the signal's reason once it aborts, also in the middle of a pause.
 */
export async function awaitServerGone(
  provider: Provider,
  id: string,
  options: { deadlineAt: number; pollMs: number; signal: AbortSignal; errorStatus: string },
): Promise<void> {
  const local = new AbortController();
  const onAbort = () => local.abort(options.signal.reason);
  options.signal.addEventListener('abort', onAbort, { once: true });
  if (options.signal.aborted) onAbort();
  const timer = setTimeout(() => local.abort(new Error('deadline')), Math.max(0, options.deadlineAt - Date.now()));
  let lastTransient: ProviderError | undefined;
  try {
    for (let failures = 0; !local.signal.aborted; ) {
      try {
        for await (const server of serverStates(provider, id, options.pollMs, local.signal)) {
          failures = 0;
          if (server.status === 'DELETED') return;
        }
        // A provider's watch may end on a 404 without a DELETED state: ask (NotFound ends the wait), else watch on.
        if (local.signal.aborted) break;
        await provider.getServer(id, { signal: local.signal });
        failures = 0;
        await pause(options.pollMs, local.signal);
      } catch (error) {
        if (error instanceof NotFoundError) return;
        // Aborted (the deadline, the step's signal), also in a pause: the verdict is given below.
        if (local.signal.aborted) break;
        if (!isTransientProviderError(error)) throw error;
        // A 5xx or 429 while polling is no verdict on the delete: ask again after a back-off growing with each
        // failure in a row, within the deadline.
        lastTransient = error;
        await pause(backoffMs(error, failures++, options.pollMs), local.signal).catch(() => undefined);
      }
    }
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onAbort);
  }
  if (options.signal.aborted) throw options.signal.reason;
  const cause = lastTransient === undefined ? '' : ` (last provider error: ${lastTransient.message})`;
  throw new StepError(`timed out waiting for server ${id} to be deleted${cause}`, { taskStatus: options.errorStatus });
}
