import type { ServiceClient } from '../../common/http.js';

export const flavorsUrl = (compute: ServiceClient) => compute.url('flavors');
export const flavorsDetailUrl = (compute: ServiceClient) => compute.url('flavors', 'detail');
export const flavorUrl = (compute: ServiceClient, id: string) => compute.url('flavors', id);
