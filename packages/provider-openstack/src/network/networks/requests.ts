import type { ServiceClient } from '../../common/http.js';
import { type PageOptions, paginate } from '../../common/pagination.js';
import { type Network, NetworkSchema } from './results.js';
import { networksUrl, networkUrl } from './urls.js';

/** GET /v2.0/networks, every page (networks_links). Filters: name, shared, status, limit… */
export function listNetworks(network: ServiceClient, options: PageOptions = {}): AsyncGenerator<Network> {
  return paginate(
    network,
    networksUrl(network),
    'networks',
    { kind: 'links', key: 'networks_links' },
    (raw) => NetworkSchema.parse(raw),
    options,
  );
}

export async function getNetwork(network: ServiceClient, id: string, signal?: AbortSignal): Promise<Network> {
  const response = await network.get<{ network?: unknown }>(networkUrl(network, id), { signal });
  return NetworkSchema.parse(response.body?.network);
}
