import { parseWith, ValidationError } from '../errors/index.js';
import {
  DatastoreNotFoundError,
  DatastoreVersionInactiveError,
  DatastoreVersionNotFoundError,
  NoImageForProviderError,
} from './errors.js';
import { type Datastore, type DatastoreInput, DatastoreSchema, type DatastoreVersion } from './models.js';
import { type ValidatedOverrides, validateOverrides } from './overrides.js';

export interface ResolvedDatastore {
  datastore: Datastore;
  version: DatastoreVersion;
  /** The image to boot on the chosen provider. */
  image: string;
}

/** The datastores a control plane offers. Entries are validated once, here; lookups throw typed errors. */
export class DatastoreCatalog {
  private readonly datastores = new Map<string, Datastore>();

  constructor(entries: readonly DatastoreInput[]) {
    entries.forEach((entry, index) => {
      const datastore = parseWith(DatastoreSchema, entry, `datastore catalog entry [${index}]`);
      if (this.datastores.has(datastore.name)) {
        const message = `duplicate datastore "${datastore.name}"`;
        throw new ValidationError(`invalid datastore catalog entry [${index}]: name: ${message}`, [
          { path: 'name', message },
        ]);
      }
      this.datastores.set(datastore.name, datastore);
    });
  }

  list(): Datastore[] {
    return [...this.datastores.values()];
  }

  getDatastore(name: string): Datastore {
    const datastore = this.datastores.get(name);
    if (!datastore) throw new DatastoreNotFoundError(name, [...this.datastores.keys()]);
    return datastore;
  }

  /** The named version, or the datastore's default. */
  getVersion(datastoreName: string, versionName?: string): DatastoreVersion {
    const datastore = this.getDatastore(datastoreName);
    const wanted = versionName ?? datastore.defaultVersion;
    const version = datastore.versions.find((v) => v.name === wanted);
    if (!version) {
      throw new DatastoreVersionNotFoundError(
        datastoreName,
        wanted,
        datastore.versions.map((v) => v.name),
      );
    }
    return version;
  }

  /** What a new instance of this datastore on this provider boots; refuses inactive versions. */
  resolve(request: { datastore: string; version?: string; provider: string }): ResolvedDatastore {
    const datastore = this.getDatastore(request.datastore);
    const version = this.getVersion(request.datastore, request.version);
    if (!version.active) throw new DatastoreVersionInactiveError(datastore.name, version.name);
    const image = version.images[request.provider];
    if (image === undefined) throw new NoImageForProviderError(datastore.name, version.name, request.provider);
    return { datastore, version, image };
  }

  /** Checks overrides against the version's parameter rules (ValidationError naming each parameter and rule). */
  validateOverrides(datastore: string, version: string, overrides: Record<string, unknown>): ValidatedOverrides {
    return validateOverrides(this.getVersion(datastore, version).parameters, overrides);
  }
}
