import { createDefaultCatalog } from '@corral/core';
import { formatTable, type OutputOptions, printResult } from '../output.js';

/** `corral datastore list`: the built-in catalog (local; no daemon needed). */
export function listDatastores(output: OutputOptions): void {
  const datastores = createDefaultCatalog()
    .list()
    .map((datastore) => ({
      name: datastore.name,
      defaultVersion: datastore.defaultVersion,
      versions: datastore.versions.map((version) => ({
        name: version.name,
        manager: version.manager,
        port: version.port,
        active: version.active,
        capabilities: version.capabilities,
      })),
    }));
  printResult(output, { datastores }, () =>
    formatTable(
      ['DATASTORE', 'VERSION', 'MANAGER', 'PORT', 'DEFAULT'],
      datastores.flatMap((d) =>
        d.versions.map((v) => [d.name, v.name, v.manager, String(v.port), v.name === d.defaultVersion ? 'yes' : '']),
      ),
    ),
  );
}
