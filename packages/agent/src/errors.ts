/** Errors the agent raises, each with a stable code that travels in RPC error replies and reports. */
export type AgentErrorCode =
  | 'CONFIG_INVALID'
  | 'UNKNOWN_MANAGER'
  | 'MANAGER_LOAD_FAILED'
  | 'DATASTORE_FAILED'
  | 'NOT_PREPARED'
  | 'ALREADY_PREPARED'
  | 'BAD_REQUEST'
  | 'UNSUPPORTED'
  | 'REQUEST_INTERRUPTED'
  | 'BROKER_UNREACHABLE'
  | 'ENROLMENT_FAILED'
  /** The data volume: not attached (no device with its serial), smaller than asked, foreign, or not mountable. */
  | 'VOLUME_MISSING'
  | 'VOLUME_WRONG_SIZE'
  | 'VOLUME_FOREIGN'
  | 'VOLUME_MOUNT_FAILED'
  | 'VOLUME_RESIZE_FAILED';

export class AgentError extends Error {
  override readonly name = 'AgentError';
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The `{code, message}` pair put on the wire for any thrown value (never a stack, never a secret). */
export function errorPayload(error: unknown): { code: string; message: string } {
  if (error instanceof AgentError) return { code: error.code, message: error.message };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : 'INTERNAL', message: error.message };
  }
  return { code: 'INTERNAL', message: String(error) };
}
