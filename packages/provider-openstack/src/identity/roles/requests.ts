import type { ServiceClient } from '../../common/http.js';
import { collect, paginate } from '../../common/pagination.js';
import { type Role, RoleSchema } from './results.js';
import { rolesUrl } from './urls.js';

export function listRoles(identity: ServiceClient, name?: string): Promise<Role[]> {
  return collect(
    paginate(identity, rolesUrl(identity), 'roles', { kind: 'links-object' }, (raw) => RoleSchema.parse(raw), {
      query: { name },
    }),
  );
}
