import type { ServiceClient } from '../../common/http.js';

export const projectsUrl = (identity: ServiceClient) => identity.url('projects');
export const projectUrl = (identity: ServiceClient, id: string) => identity.url('projects', id);
export const projectUserRoleUrl = (identity: ServiceClient, projectId: string, userId: string, roleId: string) =>
  identity.url('projects', projectId, 'users', userId, 'roles', roleId);
