import type { ServiceClient } from '../../common/http.js';

export const applicationCredentialsUrl = (identity: ServiceClient, userId: string) =>
  identity.url('users', userId, 'application_credentials');
export const applicationCredentialUrl = (identity: ServiceClient, userId: string, id: string) =>
  identity.url('users', userId, 'application_credentials', id);
