import type { ServiceClient } from '../../common/http.js';
import { type PageOptions, paginate } from '../../common/pagination.js';
import { type NovaFlavor, NovaFlavorSchema } from './results.js';
import { flavorsDetailUrl, flavorsUrl, flavorUrl } from './urls.js';

/** GET /flavors/detail, every page (flavors_links). */
export function listFlavors(compute: ServiceClient, options: PageOptions = {}): AsyncGenerator<NovaFlavor> {
  return paginate(
    compute,
    flavorsDetailUrl(compute),
    'flavors',
    { kind: 'links', key: 'flavors_links' },
    (raw) => NovaFlavorSchema.parse(raw),
    options,
  );
}

export async function getFlavor(compute: ServiceClient, id: string, signal?: AbortSignal): Promise<NovaFlavor> {
  const response = await compute.get<{ flavor?: unknown }>(flavorUrl(compute, id), { signal });
  return NovaFlavorSchema.parse(response.body?.flavor);
}

export interface CreateFlavorOptions {
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  id?: string;
  isPublic?: boolean;
}

/** Admin only. */
export async function createFlavor(compute: ServiceClient, options: CreateFlavorOptions): Promise<NovaFlavor> {
  const flavor = {
    name: options.name,
    vcpus: options.vcpus,
    ram: options.ram,
    disk: options.disk,
    id: options.id,
    'os-flavor-access:is_public': options.isPublic ?? true,
  };
  const response = await compute.post<{ flavor?: unknown }>(flavorsUrl(compute), { flavor });
  return NovaFlavorSchema.parse(response.body?.flavor);
}

export async function deleteFlavor(compute: ServiceClient, id: string): Promise<void> {
  await compute.delete(flavorUrl(compute, id));
}
