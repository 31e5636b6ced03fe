/**
 * How long a call may wait for its reply when the caller names no deadline. Every call has one, so a daemon
 * that accepts and then answers nothing can never hang a caller.
 *
 * 30 s is generous for what libvirtd answers from memory (lookups, states, XML, metadata: milliseconds). The
 * calls below do real work before they answer, and get 120 s: starting a domain waits for QEMU's monitor
 * (libvirt's own wait is 30 s), destroying one waits for QEMU to die (libvirt signals it for up to 15 s, longer
 * with host devices), volume creation and deletion copy, allocate or wipe data, pool builds and refreshes walk
 * a directory, saves and restores write or read the guest's memory.
 */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
export const SLOW_CALL_TIMEOUT_MS = 120_000;

/** Procedures that get `slowCallTimeoutMs` (see above); every other gets `callTimeoutMs`. */
export const SLOW_PROCEDURES: ReadonlySet<string> = new Set([
  'domain_create',
  'domain_create_with_files',
  'domain_create_with_flags',
  'domain_create_xml',
  'domain_create_xml_with_files',
  'domain_destroy',
  'domain_destroy_flags',
  'domain_undefine_flags',
  'domain_core_dump',
  'domain_core_dump_with_format',
  'domain_managed_save',
  'domain_save',
  'domain_save_flags',
  'domain_save_params',
  'domain_restore',
  'domain_restore_flags',
  'domain_restore_params',
  'domain_snapshot_create_xml',
  'domain_snapshot_delete',
  'storage_pool_build',
  'storage_pool_create',
  'storage_pool_create_xml',
  'storage_pool_delete',
  'storage_pool_refresh',
  'storage_vol_create_xml',
  'storage_vol_create_xml_from',
  'storage_vol_delete',
  'storage_vol_resize',
  'storage_vol_wipe',
  'storage_vol_wipe_pattern',
]);

/**
 * Bytes waiting to be sent (keepalive answers owed included) before the client decides the peer stopped
 * reading and closes the connection. A daemon that reads keeps this near zero (the kernel's socket buffer
 * takes what we write); the largest thing we queue is one 256 KiB upload chunk, and the next waits until it
 * drained.
 */
export const DEFAULT_MAX_WRITE_QUEUE_BYTES = 4 * 1024 * 1024;

/** libvirt's own client defaults (virsh): a ping every 5 s, the connection dropped after 5 unanswered ones. */
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 5_000;
export const DEFAULT_KEEPALIVE_COUNT = 5;

/** Per-call options every layer of the client takes. */
export interface RpcCallOptions {
  /** The call's deadline; 0 means none. Default: the connection's `callTimeoutMs` (or `slowCallTimeoutMs`). */
  timeoutMs?: number;
  /** Ends the call at once with RpcAbortedError (the reply, if it still comes, is dropped). */
  signal?: AbortSignal;
}
