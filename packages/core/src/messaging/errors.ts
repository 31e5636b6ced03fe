/**
 * Typed messaging errors. Callers branch on `code` (stable) or the class; messages are for people.
 */

export const messagingErrorCodes = [
  'CALL_TIMEOUT',
  'CALL_ABORTED',
  'NOT_CONNECTED',
  'OUTBOX_FULL',
  'TRANSPORT_CLOSED',
  'PAYLOAD_TOO_LARGE',
  'REMOTE_ERROR',
  'MALFORMED_REPLY',
  'BROKER_ERROR',
  'TOPIC_FORBIDDEN',
] as const;

export type MessagingErrorCode = (typeof messagingErrorCodes)[number];

export abstract class MessagingError extends Error {
  abstract readonly code: MessagingErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** No reply came within the call's timeout (the guest is absent, slow or dead). */
export class CallTimeoutError extends MessagingError {
  readonly code = 'CALL_TIMEOUT' as const;
  constructor(
    readonly method: string,
    readonly target: string,
    readonly timeoutMs: number,
  ) {
    super(`call ${method} to ${target} got no reply within ${timeoutMs} ms`);
  }
}

export class CallAbortedError extends MessagingError {
  readonly code = 'CALL_ABORTED' as const;
  constructor(
    readonly method: string,
    readonly target: string,
    cause?: unknown,
  ) {
    super(`call ${method} to ${target} was aborted`, { cause });
  }
}

/** The client was not connected to the broker (and did not get connected within the bounded wait). */
export class NotConnectedError extends MessagingError {
  readonly code = 'NOT_CONNECTED' as const;
}

export class OutboxFullError extends MessagingError {
  readonly code = 'OUTBOX_FULL' as const;
  constructor(readonly limit: number) {
    super(`offline outbox is full (${limit} messages); cast dropped`);
  }
}

export class TransportClosedError extends MessagingError {
  readonly code = 'TRANSPORT_CLOSED' as const;
  constructor() {
    super('transport is closed');
  }
}

export class PayloadTooLargeError extends MessagingError {
  readonly code = 'PAYLOAD_TOO_LARGE' as const;
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`payload of ${size} bytes exceeds the ${limit}-byte limit`);
  }
}

/** The remote handler answered with an error; `remoteCode` is its stable code (e.g. UNKNOWN_METHOD, BAD_ARGS). */
export class RemoteCallError extends MessagingError {
  readonly code = 'REMOTE_ERROR' as const;
  constructor(
    readonly method: string,
    readonly remoteCode: string,
    remoteMessage: string,
    readonly details?: unknown,
  ) {
    super(`${method} failed remotely: ${remoteCode}: ${remoteMessage}`);
  }
}

/** The reply's result did not match the method's result schema. */
export class MalformedReplyError extends MessagingError {
  readonly code = 'MALFORMED_REPLY' as const;
}

/** The broker refused or failed an operation (e.g. a subscription was denied). */
export class BrokerError extends MessagingError {
  readonly code = 'BROKER_ERROR' as const;
}

/** This identity may not publish there (checked locally: the broker would drop it or, aedes, disconnect us). */
export class TopicForbiddenError extends MessagingError {
  readonly code = 'TOPIC_FORBIDDEN' as const;
  constructor(readonly topic: string) {
    super(`this identity may not publish to ${topic}`);
  }
}
