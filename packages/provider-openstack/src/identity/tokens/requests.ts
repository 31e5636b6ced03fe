import type { ResolvedAuthOptions } from '../auth-options.js';

/** The body of POST /v3/auth/tokens for the chosen method and scope. */
export function authRequestBody(auth: ResolvedAuthOptions): Record<string, unknown> {
  const identity = identityPart(auth);
  // Without a scope Keystone falls back to the user's default project; "unscoped" asks for none explicitly.
  const scope = auth.method === 'applicationCredential' ? undefined : auth.unscoped ? 'unscoped' : scopePart(auth);
  return { auth: scope === undefined ? { identity } : { identity, scope } };
}

function identityPart(auth: ResolvedAuthOptions): Record<string, unknown> {
  if (auth.method === 'token') return { methods: ['token'], token: { id: auth.token } };
  if (auth.method === 'applicationCredential') {
    const credential: Record<string, unknown> = auth.applicationCredentialId
      ? { id: auth.applicationCredentialId, secret: auth.applicationCredentialSecret }
      : { name: auth.applicationCredentialName, secret: auth.applicationCredentialSecret, user: userPart(auth) };
    return { methods: ['application_credential'], application_credential: credential };
  }
  return { methods: ['password'], password: { user: { ...userPart(auth), password: auth.password } } };
}

function userPart(auth: ResolvedAuthOptions): Record<string, unknown> {
  if (auth.userId) return { id: auth.userId };
  return { name: auth.username, domain: domainRef(auth.userDomainId, auth.userDomainName) };
}

function scopePart(auth: ResolvedAuthOptions): Record<string, unknown> | undefined {
  if (auth.projectId) return { project: { id: auth.projectId } };
  if (auth.projectName)
    return { project: { name: auth.projectName, domain: domainRef(auth.projectDomainId, auth.projectDomainName) } };
  if (auth.domainId || auth.domainName) return { domain: domainRef(auth.domainId, auth.domainName) };
  return undefined;
}

function domainRef(id: string | undefined, name: string | undefined): Record<string, string> {
  return id ? { id } : { name: name ?? 'Default' };
}
