import type { ServiceClient } from '../../common/http.js';

/** Cinder v3 endpoints carry the project id (…/v3/{project_id}); resources hang below it. */
export const volumesUrl = (volume: ServiceClient) => volume.url('volumes');
export const volumesDetailUrl = (volume: ServiceClient) => volume.url('volumes', 'detail');
export const volumeUrl = (volume: ServiceClient, id: string) => volume.url('volumes', id);
