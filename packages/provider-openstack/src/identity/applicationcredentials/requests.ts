import type { ServiceClient } from '../../common/http.js';
import { type ApplicationCredential, ApplicationCredentialSchema } from './results.js';
import { applicationCredentialsUrl, applicationCredentialUrl } from './urls.js';

export interface CreateApplicationCredentialOptions {
  name: string;
  description?: string;
  /** ISO time; none means it lives as long as the user's role assignment. */
  expiresAt?: string;
  /** A secret of your choosing; Keystone generates one when absent. */
  secret?: string;
}

/** Creates an application credential for the user of the calling token, scoped to that token's project. */
export async function createApplicationCredential(
  identity: ServiceClient,
  userId: string,
  options: CreateApplicationCredentialOptions,
): Promise<ApplicationCredential & { secret: string }> {
  const body = {
    application_credential: {
      name: options.name,
      description: options.description,
      expires_at: options.expiresAt,
      secret: options.secret,
    },
  };
  const response = await identity.post<{ application_credential: unknown }>(
    applicationCredentialsUrl(identity, userId),
    body,
  );
  const credential = ApplicationCredentialSchema.extend({
    secret: ApplicationCredentialSchema.shape.secret.unwrap(),
  }).parse(response.body.application_credential);
  return credential;
}

export async function deleteApplicationCredential(identity: ServiceClient, userId: string, id: string): Promise<void> {
  await identity.delete(applicationCredentialUrl(identity, userId, id));
}
