import { BadRequestError } from '@corral/core/contract';
import * as z from 'zod';
import { PROVIDER_NAME } from '../common/errors.js';
import type { ServiceClient } from '../common/http.js';

/** A microversion such as "2.79", compared as numbers (2.9 < 2.10). */
export interface Microversion {
  major: number;
  minor: number;
}

export function parseMicroversion(text: string): Microversion {
  const match = /^(\d+)\.(\d+)$/.exec(text.trim());
  if (!match) throw new BadRequestError(`microversion "${text}" must look like 2.79`, { provider: PROVIDER_NAME });
  return { major: Number(match[1]), minor: Number(match[2]) };
}

export function compareMicroversions(a: string, b: string): number {
  const left = parseMicroversion(a);
  const right = parseMicroversion(b);
  return left.major - right.major || left.minor - right.minor;
}

export const atLeast = (version: string | undefined, wanted: string) =>
  version !== undefined && compareMicroversions(version, wanted) >= 0;

const VersionDocumentSchema = z.object({
  version: z.object({
    id: z.string(),
    version: z.string().default(''),
    min_version: z.string().default(''),
    status: z.string().optional(),
  }),
});

/** The version document lives at the endpoint's version root, without a trailing project id (…/v2.1). */
export function versionRoot(endpoint: string): string {
  const match = /^(.*\/v\d+(\.\d+)?)(\/[^/]+)?\/?$/.exec(endpoint);
  return match?.[1] ?? endpoint;
}

/**
 * Picks the highest microversion both sides speak: min(wanted, the service's maximum). Undefined when the
 * service has no microversions (a v2.0 endpoint). Throws when the service is older than `required`.
 */
export async function negotiateMicroversion(
  client: ServiceClient,
  wanted: string,
  required?: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const response = await client.get(versionRoot(client.endpoint), { signal });
  const document = VersionDocumentSchema.safeParse(response.body);
  if (!document.success || document.data.version.version === '') {
    if (required) throw unsupported(client, `no microversions (needs ${required})`);
    return undefined;
  }
  const { version: max, min_version: min } = document.data.version;
  const chosen = compareMicroversions(wanted, max) <= 0 ? wanted : max;
  if (min && compareMicroversions(chosen, min) < 0)
    throw unsupported(client, `speaks ${min}-${max}, we asked for ${wanted}`);
  if (required && compareMicroversions(chosen, required) < 0)
    throw unsupported(client, `speaks up to ${max}, needs ${required}`);
  return chosen;
}

/** Both header spellings: the generic one (Nova >= 2.27, Cinder) and Nova's legacy one. */
export function microversionHeaders(
  serviceName: 'compute' | 'volume',
  version: string | undefined,
): Record<string, string> {
  if (version === undefined) return {};
  const headers: Record<string, string> = { 'openstack-api-version': `${serviceName} ${version}` };
  if (serviceName === 'compute') headers['x-openstack-nova-api-version'] = version;
  return headers;
}

function unsupported(client: ServiceClient, why: string) {
  return new BadRequestError(`${client.service} at ${client.endpoint}: ${why}`, { provider: PROVIDER_NAME });
}
