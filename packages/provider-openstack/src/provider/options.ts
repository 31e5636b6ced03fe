import type { OpenStackClientOptions } from '../client.js';

export interface OpenStackProviderOptions extends OpenStackClientOptions {
  /** Network for servers whose request names none: an id or name, "none" or "auto". Default "none". */
  defaultNetwork?: string;
  /** Availability zone for new servers (admin may pin a host with "nova:<host>"). */
  availabilityZone?: string;
  /** Whether `resizeServer` is offered: single-host clouds need allow_resize_to_same_host. Default false. */
  resize?: boolean;
  /** Polling interval for waits and watchServer (default 1 s). */
  pollIntervalMs?: number;
  /** How long `deleteServer` waits for the 404 (default 120 s); 0 returns once Nova accepted the delete. */
  deleteTimeoutMs?: number;
  /** How long to look for a server by its key after an ambiguous create failure (default 15 s). */
  recoveryWindowMs?: number;
  /** How long `createServer` waits for a requested volume to become available (default 120 s). */
  volumeTimeoutMs?: number;
}

/** Nova's limit for user_data: 65,535 bytes after base64 encoding. */
export const MAX_USER_DATA_BYTES = 65_535;
