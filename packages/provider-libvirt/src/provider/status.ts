import type { ServerStatus } from '@corral/core/contract';
import { DomainState } from '../api/domains.js';

/** Maps libvirt's domain state onto the provider's (Nova's) server statuses. */
export function statusFromDomainState(state: number, hasFault: boolean): ServerStatus {
  if (hasFault) return 'ERROR';
  switch (state) {
    case DomainState.RUNNING:
    case DomainState.BLOCKED:
    case DomainState.SHUTDOWN: // shutting down, still running
      return 'ACTIVE';
    case DomainState.PAUSED:
      return 'PAUSED';
    case DomainState.SHUTOFF:
      return 'SHUTOFF';
    case DomainState.CRASHED:
      return 'ERROR';
    case DomainState.PMSUSPENDED:
      return 'SUSPENDED';
    default:
      return 'UNKNOWN';
  }
}
