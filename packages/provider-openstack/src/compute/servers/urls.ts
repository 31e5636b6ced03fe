import type { ServiceClient } from '../../common/http.js';

export const serversUrl = (compute: ServiceClient) => compute.url('servers');
export const serversDetailUrl = (compute: ServiceClient) => compute.url('servers', 'detail');
export const serverUrl = (compute: ServiceClient, id: string) => compute.url('servers', id);
export const serverActionUrl = (compute: ServiceClient, id: string) => compute.url('servers', id, 'action');
