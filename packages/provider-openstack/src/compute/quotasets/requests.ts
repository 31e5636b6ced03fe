import type { ServiceClient } from '../../common/http.js';
import { type QuotaSet, QuotaSetSchema } from './results.js';
import { quotaSetUrl } from './urls.js';

export async function getQuotaSet(compute: ServiceClient, projectId: string): Promise<QuotaSet> {
  const response = await compute.get<{ quota_set?: unknown }>(quotaSetUrl(compute, projectId));
  return QuotaSetSchema.parse(response.body?.quota_set);
}

/** Admin only. */
export async function updateQuotaSet(
  compute: ServiceClient,
  projectId: string,
  limits: Partial<Record<'instances' | 'cores' | 'ram', number>>,
): Promise<QuotaSet> {
  const response = await compute.put<{ quota_set?: unknown }>(quotaSetUrl(compute, projectId), { quota_set: limits });
  return QuotaSetSchema.parse(response.body?.quota_set);
}

/** Admin only: back to the defaults. */
export async function deleteQuotaSet(compute: ServiceClient, projectId: string): Promise<void> {
  await compute.delete(quotaSetUrl(compute, projectId));
}
