import * as z from 'zod';

export const ApplicationCredentialSchema = z.object({
  id: z.string(),
  name: z.string(),
  project_id: z.string().nullish(),
  expires_at: z.string().nullish(),
  /** Only in the create answer: Keystone never shows it again. */
  secret: z.string().optional(),
});
export type ApplicationCredential = z.infer<typeof ApplicationCredentialSchema>;
