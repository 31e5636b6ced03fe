import type { ServiceClient } from '../../common/http.js';

/** Glance endpoints are usually the bare host (http://h:9292); the API lives under /v2. */
const v2 = (image: ServiceClient) => (/\/v2(\.\d+)?$/.test(image.endpoint) ? image.endpoint : `${image.endpoint}/v2`);

export const imagesUrl = (image: ServiceClient) => `${v2(image)}/images`;
export const imageUrl = (image: ServiceClient, id: string) => `${v2(image)}/images/${encodeURIComponent(id)}`;
export const imageFileUrl = (image: ServiceClient, id: string) => `${imageUrl(image, id)}/file`;
