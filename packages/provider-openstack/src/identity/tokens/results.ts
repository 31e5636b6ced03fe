import * as z from 'zod';
import { CatalogSchema } from '../catalog.js';

const NamedRef = z.object({ id: z.string(), name: z.string().optional() });

export const TokenBodySchema = z.object({
  token: z.object({
    expires_at: z.string(),
    issued_at: z.string().optional(),
    methods: z.array(z.string()).default([]),
    user: NamedRef.extend({ domain: NamedRef.optional() }),
    project: NamedRef.extend({ domain: NamedRef.optional() }).optional(),
    domain: NamedRef.optional(),
    roles: z.array(NamedRef).default([]),
    catalog: CatalogSchema.default([]),
  }),
});

/** An issued token: the secret itself (from X-Subject-Token), when it expires, and what it grants. */
export interface Token {
  id: string;
  expiresAt: Date;
  issuedAt: Date;
  userId: string;
  projectId?: string;
  domainId?: string;
  roles: string[];
  catalog: z.infer<typeof CatalogSchema>;
}

export function toToken(id: string, body: z.infer<typeof TokenBodySchema>, now = Date.now()): Token {
  const token = body.token;
  return {
    id,
    expiresAt: new Date(token.expires_at),
    issuedAt: token.issued_at ? new Date(token.issued_at) : new Date(now),
    userId: token.user.id,
    projectId: token.project?.id,
    domainId: token.domain?.id,
    roles: token.roles.map((role) => role.name ?? role.id),
    catalog: token.catalog,
  };
}
