import type * as z from 'zod';
import { BadRequestError } from './errors.js';
import { CreateServerRequestSchema, type ParsedCreateServerRequest } from './types.js';

/** Describes each zod issue as `path: message`, so an error names the field and the rule broken. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

/** Parses a create request for a provider, throwing a BadRequestError that names each broken rule. */
export function parseCreateServerRequest(provider: string, request: unknown): ParsedCreateServerRequest {
  const result = CreateServerRequestSchema.safeParse(request);
  if (!result.success) {
    throw new BadRequestError(`invalid create request: ${describeIssues(result.error)}`, { provider });
  }
  return result.data;
}
