import type { GuestMethodName } from '@corral/core/contract';

/**
 * The agent serves every method of core's guest contract (`guestMethods`). Those that only read run directly;
 * every other one goes through the idempotency journal, keyed by the args' `requestId` (or the message id).
 */
export const READ_ONLY_METHODS: ReadonlySet<GuestMethodName> = new Set<GuestMethodName>([
  'rpc_ping',
  'get_filesystem_stats',
  'list_databases',
  'list_users',
  'is_root_enabled',
]);

export function isJournaled(method: GuestMethodName): boolean {
  return !READ_ONLY_METHODS.has(method);
}
