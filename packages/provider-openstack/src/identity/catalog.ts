import * as z from 'zod';

export const EndpointInterface = z.enum(['public', 'internal', 'admin']);
export type EndpointInterface = z.infer<typeof EndpointInterface>;

/** Service types as the Service Types Authority names them, with the aliases clouds still register. */
export const serviceTypeAliases = {
  identity: ['identity'],
  compute: ['compute'],
  image: ['image'],
  network: ['network'],
  'block-storage': ['block-storage', 'volumev3', 'volumev2', 'volume', 'block-store'],
  placement: ['placement'],
} as const satisfies Record<string, readonly string[]>;
export type ServiceType = keyof typeof serviceTypeAliases;

/** Maps an alias (volumev3, block_storage) to its official type; unknown types are kept as they are. */
export function canonicalServiceType(type: string): string {
  const normal = type.replace(/_/g, '-');
  for (const [official, aliases] of Object.entries(serviceTypeAliases)) {
    if ((aliases as readonly string[]).includes(normal)) return official;
  }
  return normal;
}

export const CatalogSchema = z.array(
  z.object({
    type: z.string(),
    name: z.string().optional(),
    id: z.string().optional(),
    endpoints: z.array(
      z.object({
        interface: z.string(),
        url: z.string(),
        region: z.string().nullish(),
        region_id: z.string().nullish(),
      }),
    ),
  }),
);
export type Catalog = z.infer<typeof CatalogSchema>;

export interface EndpointQuery {
  interface?: EndpointInterface;
  region?: string;
  /** Per-service URLs that win over the catalog (for clouds whose catalog is wrong or unreachable). */
  overrides?: Record<string, string>;
}

export class EndpointNotFoundError extends Error {
  override name = 'EndpointNotFoundError';
}

/**
 * Picks a service's URL: an override first, else the catalog entry of the first alias present, on the wanted
 * interface and region. The answer has no trailing slash.
 */
export function selectEndpoint(catalog: Catalog, serviceType: string, query: EndpointQuery = {}): string {
  const official = canonicalServiceType(serviceType);
  const override = query.overrides?.[official];
  if (override) return override.replace(/\/+$/, '');
  const aliases: readonly string[] = (serviceTypeAliases as Record<string, readonly string[]>)[official] ?? [official];
  const wantedInterface = query.interface ?? 'public';
  for (const alias of aliases) {
    const service = catalog.find((entry) => entry.type === alias);
    if (!service) continue;
    const endpoint = service.endpoints.find(
      (candidate) =>
        candidate.interface === wantedInterface &&
        (query.region === undefined || candidate.region_id === query.region || candidate.region === query.region),
    );
    if (endpoint) return endpoint.url.replace(/\/+$/, '');
  }
  const types = catalog.map((entry) => entry.type).join(', ') || 'none';
  throw new EndpointNotFoundError(
    `no ${wantedInterface} endpoint for ${official} (types tried: ${aliases.join(', ')})${query.region ? ` in region ${query.region}` : ''}; catalog has: ${types}`,
  );
}

export function hasService(catalog: Catalog, serviceType: string, query: EndpointQuery = {}): boolean {
  try {
    selectEndpoint(catalog, serviceType, query);
    return true;
  } catch (error) {
    if (error instanceof EndpointNotFoundError) return false;
    throw error;
  }
}
