/**
 * @corral/provider-libvirt: a pure TypeScript client of libvirt's RPC protocol (no native bindings) and a
 * corral provider on top of it.
 */
export * from './api/index.js';
export * from './iso/index.js';
export * as protocol from './protocol/remote.generated.js';
export * from './provider/index.js';
export * from './rpc/index.js';
export * as xdr from './xdr/index.js';
