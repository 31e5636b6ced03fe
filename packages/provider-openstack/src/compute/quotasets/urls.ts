import type { ServiceClient } from '../../common/http.js';

export const quotaSetUrl = (compute: ServiceClient, projectId: string) => compute.url('os-quota-sets', projectId);
