import { identityBase } from '../auth-options.js';

export const tokensUrl = (authUrl: string) => `${identityBase(authUrl)}/auth/tokens`;
