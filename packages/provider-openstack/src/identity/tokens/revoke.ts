import type { ServiceClient } from '../../common/http.js';

/** DELETE /v3/auth/tokens: revokes `subjectToken` (any user may revoke their own; admin may revoke any). */
export async function revokeToken(identity: ServiceClient, subjectToken: string): Promise<void> {
  await identity.delete(`${identity.endpoint}/auth/tokens`, { headers: { 'x-subject-token': subjectToken } });
}
