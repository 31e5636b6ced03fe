import { type Flavor, type Image, type Server, type ServerStatus, serverStatuses } from '@corral/core/contract';
import type { NovaFlavor } from '../compute/flavors/results.js';
import type { NovaServer } from '../compute/servers/results.js';
import type { GlanceImage } from '../image/images/results.js';

/** Metadata key holding the idempotency key on every server this provider makes. */
export const IDEMPOTENCY_METADATA_KEY = 'corral_idempotency_key';

const statusAliases: Record<string, ServerStatus> = {
  REBUILD: 'BUILD',
  SOFT_DELETED: 'DELETED',
  SHELVED: 'SHUTOFF',
  SHELVED_OFFLOADED: 'SHUTOFF',
  REVERT_RESIZE: 'RESIZE',
  MIGRATING: 'RESIZE',
};

export function toServerStatus(status: string): ServerStatus {
  if ((serverStatuses as readonly string[]).includes(status)) return status as ServerStatus;
  return statusAliases[status] ?? 'UNKNOWN';
}

export function toServer(server: NovaServer): Server {
  const addresses: Record<string, string[]> = {};
  for (const [network, entries] of Object.entries(server.addresses))
    addresses[network] = entries.map((entry) => entry.addr);
  const status = toServerStatus(server.status);
  return {
    id: server.id,
    name: server.name,
    status,
    fault:
      status === 'ERROR' && server.fault
        ? { message: server.fault.message, code: server.fault.code, details: server.fault.details }
        : undefined,
    idempotencyKey: server.metadata[IDEMPOTENCY_METADATA_KEY],
    flavor: server.flavor?.id ?? server.flavor?.original_name,
    image: typeof server.image === 'object' ? server.image.id : undefined,
    addresses,
    metadata: server.metadata,
    createdAt: server.created,
    // Nova hands the guest each Cinder volume's id as the virtio serial, which keeps its first 20 bytes.
    volumes: (server['os-extended-volumes:volumes_attached'] ?? []).map((volume) => ({
      id: volume.id,
      serial: volume.id.slice(0, 20),
    })),
  };
}

export function toFlavor(flavor: NovaFlavor): Flavor {
  return {
    id: flavor.id,
    name: flavor.name,
    vcpus: Math.max(1, flavor.vcpus),
    ramMb: Math.max(1, flavor.ram),
    diskGb: flavor.disk,
  };
}

export function toImage(image: GlanceImage): Image {
  return { id: image.id, name: image.name ?? image.id, status: image.status, sizeBytes: image.size ?? undefined };
}
