import type { ServiceClient } from '../../common/http.js';

/** Neutron endpoints are usually the bare host (http://h:9696); the API lives under /v2.0. */
const v2 = (network: ServiceClient) =>
  /\/v2\.0$/.test(network.endpoint) ? network.endpoint : `${network.endpoint}/v2.0`;

export const networksUrl = (network: ServiceClient) => `${v2(network)}/networks`;
export const networkUrl = (network: ServiceClient, id: string) => `${v2(network)}/networks/${encodeURIComponent(id)}`;
