import type { ServiceClient } from '../../common/http.js';

export const rolesUrl = (identity: ServiceClient) => identity.url('roles');
