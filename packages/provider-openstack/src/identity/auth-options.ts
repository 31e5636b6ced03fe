import * as z from 'zod';

/**
 * How to authenticate to Keystone v3. One schema for every source (code, clouds.yaml, OS_* variables);
 * the method is explicit or inferred: an application credential secret → application credential,
 * a token → token, otherwise password.
 */
export const AuthOptionsSchema = z
  .object({
    authUrl: z.url({ message: 'must be an http(s) URL, e.g. http://127.0.0.1:5000/v3' }),
    method: z.enum(['password', 'applicationCredential', 'token']).optional(),
    username: z.string().min(1).optional(),
    userId: z.string().min(1).optional(),
    password: z.string().optional(),
    userDomainName: z.string().min(1).optional(),
    userDomainId: z.string().min(1).optional(),
    applicationCredentialId: z.string().min(1).optional(),
    applicationCredentialName: z.string().min(1).optional(),
    applicationCredentialSecret: z.string().optional(),
    token: z.string().min(1).optional(),
    /** Project scope: an id, or a name with its domain. */
    projectId: z.string().min(1).optional(),
    projectName: z.string().min(1).optional(),
    projectDomainName: z.string().min(1).optional(),
    projectDomainId: z.string().min(1).optional(),
    /** Domain scope (when no project is given). */
    domainId: z.string().min(1).optional(),
    domainName: z.string().min(1).optional(),
    /** Ask for an unscoped token even if a default project exists. */
    unscoped: z.boolean().optional(),
  })
  .transform((auth) => ({ ...auth, method: auth.method ?? inferMethod(auth) }))
  .superRefine((auth, ctx) => {
    const need = (field: keyof typeof auth, rule: string) =>
      ctx.addIssue({ code: 'custom', path: [field], message: rule });
    if (auth.method === 'password') {
      if (!auth.username && !auth.userId) need('username', 'password auth needs username or userId');
      if (auth.password === undefined) need('password', 'password auth needs a password');
      if (auth.username && !auth.userId && !auth.userDomainName && !auth.userDomainId) {
        need('userDomainName', 'a username needs userDomainName or userDomainId (e.g. "Default")');
      }
    }
    if (auth.method === 'applicationCredential') {
      if (auth.applicationCredentialSecret === undefined) need('applicationCredentialSecret', 'is required');
      if (!auth.applicationCredentialId && !auth.applicationCredentialName) {
        need('applicationCredentialId', 'application credential auth needs its id (or a name with the user)');
      }
      if (!auth.applicationCredentialId && auth.applicationCredentialName && !auth.userId && !auth.username) {
        need('username', 'an application credential given by name needs its user');
      }
    }
    if (auth.method === 'token' && !auth.token) need('token', 'token auth needs a token');
    if (auth.projectName && !auth.projectId && !auth.projectDomainName && !auth.projectDomainId) {
      need('projectDomainName', 'a projectName needs projectDomainName or projectDomainId (e.g. "Default")');
    }
  });

export type AuthOptions = z.input<typeof AuthOptionsSchema>;
export type ResolvedAuthOptions = z.output<typeof AuthOptionsSchema>;

function inferMethod(auth: {
  applicationCredentialSecret?: string;
  token?: string;
}): 'password' | 'applicationCredential' | 'token' {
  if (auth.applicationCredentialSecret !== undefined) return 'applicationCredential';
  if (auth.token !== undefined) return 'token';
  return 'password';
}

/** The Keystone v3 base (…/v3), whether or not the configured auth URL names the version. */
export function identityBase(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}
