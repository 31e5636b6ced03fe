import { ProviderUnavailableError } from '@corral/core/contract';
import { withContext } from './errors.js';
import type { HttpResponse, QueryValue, RequestOptions, ServiceClient } from './http.js';

/** How a page names its next page. OpenStack has three habits; each resource says which it uses. */
export type NextLinkStyle =
  /** Nova/Neutron/Cinder: `{"<key>_links": [{"rel": "next", "href": "<absolute url>"}]}` */
  | { kind: 'links'; key: string }
  /** Glance: `{"next": "/v2/images?marker=…"}`, relative to the endpoint's root. */
  | { kind: 'relative-next' }
  /** Keystone: `{"links": {"next": "<url>|null"}}` */
  | { kind: 'links-object' };

export interface PageOptions {
  query?: Record<string, QueryValue>;
  signal?: AbortSignal;
  /**
   * Refuses to read more pages than this (throws, never truncates silently). Default 10,000: a guard against
   * a cloud that loops, not a cap on real data.
   */
  maxPages?: number;
  /** Called once per page, e.g. to count pages in a test. */
  onPage?: (url: string, itemCount: number) => void;
}

/**
 * Yields every item of a listing, following next links until there is none. A next link seen before is a
 * loop in the cloud's paging and ends in an error rather than a hang or a silent cut.
 */
export async function* paginate<T>(
  client: ServiceClient,
  firstUrl: string,
  itemsKey: string,
  style: NextLinkStyle,
  parseItem: (raw: unknown) => T,
  options: PageOptions = {},
): AsyncGenerator<T> {
  const maxPages = options.maxPages ?? 10_000;
  const seen = new Set<string>();
  let url: string | undefined = firstUrl;
  let query: Record<string, QueryValue> | undefined = options.query;
  let pages = 0;
  while (url !== undefined) {
    const request: RequestOptions = { query, signal: options.signal };
    const response: HttpResponse<Record<string, unknown>> = await client.get<Record<string, unknown>>(url, request);
    const key = pageKey(response.url);
    if (seen.has(key)) throw pagingError(client, response.url, 'a next link pointed back to a page already read');
    seen.add(key);
    pages++;
    const body: Record<string, unknown> = response.body ?? {};
    const items: unknown = body[itemsKey];
    if (!Array.isArray(items)) throw pagingError(client, response.url, `the page has no "${itemsKey}" array`);
    options.onPage?.(response.url, items.length);
    for (const item of items) yield parseItem(item);
    // An empty page ends the listing even if it offers a next link (Nova does on an exact multiple of limit).
    const next: string | undefined = items.length === 0 ? undefined : nextLink(client, body, style);
    if (next !== undefined && pages >= maxPages) {
      throw pagingError(client, response.url, `more than maxPages=${maxPages} pages; raise maxPages to read them all`);
    }
    url = next;
    query = undefined; // the next link carries the query (marker, limit, filters)
  }
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function nextLink(client: ServiceClient, body: Record<string, unknown>, style: NextLinkStyle): string | undefined {
  if (style.kind === 'links') {
    const links = body[style.key];
    if (!Array.isArray(links)) return undefined;
    for (const link of links) {
      if (typeof link === 'object' && link !== null) {
        const { rel, href } = link as { rel?: unknown; href?: unknown };
        if (rel === 'next' && typeof href === 'string') return href;
      }
    }
    return undefined;
  }
  if (style.kind === 'links-object') {
    const links = body.links;
    if (typeof links !== 'object' || links === null) return undefined;
    const next = (links as { next?: unknown }).next;
    return typeof next === 'string' ? next : undefined;
  }
  const next = body.next;
  if (typeof next !== 'string') return undefined;
  if (/^https?:\/\//.test(next)) return next;
  // Glance's next is "/v2/images?…" from its own root; the endpoint may carry a prefix (…/image) before it.
  const root = client.endpoint.replace(/\/v2(\.\d+)?\/?$/, '').replace(/\/$/, '');
  return `${root}${next.startsWith('/') ? '' : '/'}${next}`;
}

function pageKey(url: string): string {
  const parsed = new URL(url);
  parsed.searchParams.sort();
  return `${parsed.pathname}?${parsed.searchParams.toString()}`;
}

function pagingError(client: ServiceClient, url: string, why: string) {
  return withContext(
    new ProviderUnavailableError(`${client.service} paging of ${url} stopped: ${why}`, { provider: 'openstack' }),
    {
      service: client.service,
      method: 'GET',
      url,
    },
  );
}
