import { createHash } from 'node:crypto';

/** Every server's data volume is `<domain name>-data.qcow2` in the pool. */
export const DATA_VOLUME_SUFFIX = '-data.qcow2';

/**
 * The `<serial>` a data disk gets: `corral-` and 13 hex digits of its volume name's digest, 20 bytes, all
 * virtio keeps. Derived from the name, so it needs no record of its own and stays the same across reboots
 * and redefinitions; the guest agent finds its volume by it (`/sys/block/vdX/serial`).
 */
export function dataSerialOf(volumeName: string): string {
  return `corral-${createHash('sha256').update(volumeName).digest('hex').slice(0, 13)}`;
}
