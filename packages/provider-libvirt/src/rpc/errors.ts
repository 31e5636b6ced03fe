/** libvirt's own error (remote_error), as the daemon reported it. `code` is a VIR_ERR_* number. */
export class LibvirtError extends Error {
  readonly code: number;
  /** VIR_FROM_* number: which part of libvirt raised it. */
  readonly domain: number;
  /** VIR_ERR_NONE/WARNING/ERROR. */
  readonly level: number;
  readonly procedure?: string;

  constructor(details: { code: number; domain: number; message: string | null; level: number; procedure?: string }) {
    super(details.message ?? `libvirt error ${details.code}`);
    this.name = 'LibvirtError';
    this.code = details.code;
    this.domain = details.domain;
    this.level = details.level;
    this.procedure = details.procedure;
  }
}

/** The connection to libvirtd ended (daemon restarted, socket closed) while a call was in flight or was made. */
export class ConnectionClosedError extends Error {
  readonly code: 'CONNECTION_CLOSED' | 'WRITE_QUEUE_FULL' = 'CONNECTION_CLOSED';
  constructor(message = 'the connection to libvirtd is closed', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConnectionClosedError';
  }
}

/**
 * The client closed the connection because the peer stopped reading: more than `maxWriteQueueBytes` waited to
 * be sent (a daemon that floods keepalive pings and never reads the answers would otherwise grow the queue
 * without bound). Calls in flight reject with a ConnectionClosedError whose `cause` is this error.
 */
export class WriteQueueFullError extends ConnectionClosedError {
  override readonly code = 'WRITE_QUEUE_FULL';
  readonly queuedBytes: number;
  constructor(queuedBytes: number, limitBytes: number) {
    super(
      `libvirtd stopped reading: ${queuedBytes} bytes wait to be sent (limit ${limitBytes}); the connection was closed`,
    );
    this.name = 'WriteQueueFullError';
    this.queuedBytes = queuedBytes;
  }
}

/** The peer sent something that is not libvirt's protocol (bad length, unknown program, undecodable body). */
export class ProtocolError extends Error {
  readonly code = 'PROTOCOL';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtocolError';
  }
}

/** A call got no reply in time. */
export class RpcTimeoutError extends Error {
  readonly code = 'RPC_TIMEOUT';
  constructor(message: string) {
    super(message);
    this.name = 'RpcTimeoutError';
  }
}

/** The caller's abort signal ended a call (or the wait for a connection); `cause` is the signal's reason. */
export class RpcAbortedError extends Error {
  readonly code = 'RPC_ABORTED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RpcAbortedError';
  }
}

/** The daemon asked for an authentication method this client does not implement (SASL). */
export class AuthUnsupportedError extends Error {
  readonly code = 'AUTH_UNSUPPORTED';
  constructor(message: string) {
    super(message);
    this.name = 'AuthUnsupportedError';
  }
}

/** A VIR_ERR_* code the client checks for. */
export const VirErrorNumber = {
  NO_DOMAIN: 42,
  OPERATION_INVALID: 55,
  NO_STORAGE_POOL: 49,
  NO_STORAGE_VOL: 50,
  NO_NETWORK: 43,
  OPERATION_TIMEOUT: 68,
  OPERATION_FAILED: 9,
  AUTH_FAILED: 45,
  NO_SUPPORT: 3,
  OPERATION_UNSUPPORTED: 84,
  INVALID_ARG: 8,
  NO_DOMAIN_METADATA: 80,
  XML_ERROR: 27,
} as const;
