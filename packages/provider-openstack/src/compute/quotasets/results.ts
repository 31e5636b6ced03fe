import * as z from 'zod';

export const QuotaSetSchema = z.looseObject({
  instances: z.number(),
  cores: z.number(),
  ram: z.number(),
});
export type QuotaSet = z.infer<typeof QuotaSetSchema>;
