import { BadRequestError, NotFoundError } from '@corral/core/contract';
import { PROVIDER_NAME } from '../common/errors.js';
import type { ServiceClient } from '../common/http.js';
import { collect } from '../common/pagination.js';
import { getFlavor, listFlavors } from '../compute/flavors/requests.js';
import { getImage, listImages } from '../image/images/requests.js';
import { getNetwork, listNetworks } from '../network/networks/requests.js';

const uuidLike = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/**
 * Turns "a flavor/image/network id or name" into an id, remembering answers for a while: a create
 * should not cost three extra lookups every time.
 */
export class NameResolver {
  /** Promises, not values: concurrent creates share one lookup instead of each making their own. */
  private readonly cache = new Map<string, { id: Promise<string>; until: number }>();

  constructor(private readonly ttlMs = 5 * 60_000) {}

  async flavor(compute: ServiceClient, ref: string, signal?: AbortSignal): Promise<string> {
    return this.cached(`flavor:${ref}`, async () => {
      try {
        return (await getFlavor(compute, ref, signal)).id;
      } catch (error) {
        if (!(error instanceof NotFoundError)) throw error;
      }
      const matches = (await collect(listFlavors(compute, { signal }))).filter((flavor) => flavor.name === ref);
      return unique('flavor', ref, matches);
    });
  }

  async image(image: ServiceClient, ref: string, signal?: AbortSignal): Promise<string> {
    return this.cached(`image:${ref}`, async () => {
      if (uuidLike.test(ref)) {
        try {
          return (await getImage(image, ref, signal)).id;
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
        }
      }
      const matches = await collect(listImages(image, { query: { name: ref, status: 'active' }, signal }));
      return unique('image', ref, matches);
    });
  }

  async network(network: ServiceClient, ref: string, signal?: AbortSignal): Promise<string> {
    return this.cached(`network:${ref}`, async () => {
      if (uuidLike.test(ref)) {
        try {
          return (await getNetwork(network, ref, signal)).id;
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
        }
      }
      const matches = await collect(listNetworks(network, { query: { name: ref }, signal }));
      return unique('network', ref, matches);
    });
  }

  private cached(key: string, find: () => Promise<string>): Promise<string> {
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.id;
    const id = find();
    this.cache.set(key, { id, until: Date.now() + this.ttlMs });
    id.catch(() => this.cache.delete(key)); // a failed lookup is not remembered
    return id;
  }
}

function unique(kind: string, ref: string, matches: { id: string }[]): string {
  const [first, second] = matches;
  if (!first) throw new BadRequestError(`${kind}: no ${kind} has the id or name "${ref}"`, { provider: PROVIDER_NAME });
  if (second)
    throw new BadRequestError(`${kind}: "${ref}" names ${matches.length} ${kind}s; use an id`, {
      provider: PROVIDER_NAME,
    });
  return first.id;
}
