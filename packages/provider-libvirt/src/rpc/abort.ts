import { RpcAbortedError } from './errors.js';

export function abortedError(signal: AbortSignal, what: string): RpcAbortedError {
  return new RpcAbortedError(`${what} was aborted`, { cause: signal.reason });
}

/**
 * Settles like `promise`, or rejects with RpcAbortedError the moment `signal` aborts. For waits the caller
 * shares with others (the dial of a shared connection): the work goes on, bounded by its own deadline; only
 * this caller stops waiting.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortedError(signal, what));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal, what));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
