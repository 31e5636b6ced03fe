import {
  AuthError,
  BadRequestError,
  ConflictError,
  NotFoundError,
  ProviderError,
  ProviderTimeoutError,
  ProviderUnavailableError,
  UnsupportedError,
} from '@corral/core/contract';
import {
  AuthUnsupportedError,
  ConnectionClosedError,
  LibvirtError,
  ProtocolError,
  RpcAbortedError,
  RpcTimeoutError,
} from '../rpc/errors.js';

export const PROVIDER_NAME = 'libvirt';

/** Turns what the RPC layer throws into the provider's typed errors (keeping the original as `cause`). */
export function toProviderError(error: unknown, context: string): ProviderError {
  if (error instanceof ProviderError) return error;
  const options = { provider: PROVIDER_NAME, cause: error };
  if (error instanceof LibvirtError) {
    const message = `${context}: ${error.message}`;
    const requestId = error.procedure;
    switch (error.code) {
      case 42: // VIR_ERR_NO_DOMAIN
      case 49: // VIR_ERR_NO_STORAGE_POOL
      case 50: // VIR_ERR_NO_STORAGE_VOL
      case 43: // VIR_ERR_NO_NETWORK
        return new NotFoundError(message, { ...options, requestId });
      case 9: // VIR_ERR_OPERATION_FAILED (e.g. "already exists")
      case 55: // VIR_ERR_OPERATION_INVALID (wrong state)
        return new ConflictError(message, { ...options, requestId, status: error.code });
      case 8: // VIR_ERR_INVALID_ARG
      case 27: // VIR_ERR_XML_ERROR
      case 67: // VIR_ERR_CONFIG_UNSUPPORTED
        return new BadRequestError(message, { ...options, requestId, status: error.code });
      case 45: // VIR_ERR_AUTH_FAILED
      case 6: // VIR_ERR_AUTH_CANCELLED? (treated as auth)
        return new AuthError(message, { ...options, requestId });
      case 3: // VIR_ERR_NO_SUPPORT
      case 84: // VIR_ERR_OPERATION_UNSUPPORTED
        return new UnsupportedError(message, { ...options, requestId });
      case 68: // VIR_ERR_OPERATION_TIMEOUT
        return new ProviderTimeoutError(message, { ...options, requestId });
      default:
        return new ProviderUnavailableError(message, { ...options, requestId, status: error.code });
    }
  }
  if (error instanceof AuthUnsupportedError) return new AuthError(`${context}: ${error.message}`, options);
  if (error instanceof RpcTimeoutError || error instanceof RpcAbortedError) {
    return new ProviderTimeoutError(`${context}: ${error.message}`, options);
  }
  if (error instanceof ConnectionClosedError || error instanceof ProtocolError) {
    return new ProviderUnavailableError(`${context}: ${error.message}`, options);
  }
  return new ProviderUnavailableError(`${context}: ${(error as Error)?.message ?? String(error)}`, options);
}
