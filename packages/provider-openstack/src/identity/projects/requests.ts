import type { ServiceClient } from '../../common/http.js';
import { collect, type PageOptions, paginate } from '../../common/pagination.js';
import { type Project, ProjectSchema } from './results.js';
import { projectsUrl, projectUrl, projectUserRoleUrl } from './urls.js';

export interface CreateProjectOptions {
  name: string;
  domainId?: string;
  description?: string;
}

export async function createProject(identity: ServiceClient, options: CreateProjectOptions): Promise<Project> {
  const body = {
    project: { name: options.name, domain_id: options.domainId ?? 'default', description: options.description ?? '' },
  };
  const response = await identity.post<{ project: unknown }>(projectsUrl(identity), body);
  return ProjectSchema.parse(response.body.project);
}

export function listProjects(
  identity: ServiceClient,
  options: PageOptions & { name?: string } = {},
): Promise<Project[]> {
  const query = { ...options.query, name: options.name };
  return collect(
    paginate(identity, projectsUrl(identity), 'projects', { kind: 'links-object' }, (raw) => ProjectSchema.parse(raw), {
      ...options,
      query,
    }),
  );
}

export async function deleteProject(identity: ServiceClient, id: string): Promise<void> {
  await identity.delete(projectUrl(identity, id));
}

/** Grants `roleId` to a user on a project (PUT, idempotent). */
export async function assignProjectRole(
  identity: ServiceClient,
  projectId: string,
  userId: string,
  roleId: string,
): Promise<void> {
  await identity.put(projectUserRoleUrl(identity, projectId, userId, roleId), undefined);
}
