/** Why an XDR value could not be decoded (or encoded). Stable codes: callers and tests branch on them. */
export type XdrErrorCode =
  | 'TRUNCATED'
  | 'LIMIT_EXCEEDED'
  | 'INVALID_BOOL'
  | 'INVALID_DISCRIMINANT'
  | 'INVALID_ENUM'
  | 'INVALID_UTF8'
  | 'TRAILING_BYTES'
  | 'OUT_OF_RANGE';

export class XdrError extends Error {
  readonly code: XdrErrorCode;
  constructor(code: XdrErrorCode, message: string) {
    super(message);
    this.name = 'XdrError';
    this.code = code;
  }
}
