import { describe, expect, it } from 'vitest';
import { ValidationError } from '../errors/index.js';
import { DatastoreCatalog } from './catalog.js';
import { createDefaultCatalog, defaultDatastores } from './defaults.js';
import {
  DatastoreNotFoundError,
  DatastoreVersionInactiveError,
  DatastoreVersionNotFoundError,
  NoImageForProviderError,
} from './errors.js';

function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('datastore catalog', () => {
  const catalog = createDefaultCatalog();

  it('ships redis 7 and postgresql 15', () => {
    expect(catalog.list().map((d) => `${d.name} ${d.defaultVersion}`)).toEqual(['redis 7', 'postgresql 15']);
    expect(catalog.getVersion('redis').manager).toBe('redis');
    expect(catalog.getVersion('postgresql', '15').port).toBe(5432);
  });

  it('resolves the image for a provider', () => {
    expect(catalog.resolve({ datastore: 'redis', provider: 'libvirt' }).image).toBe('corral-guest');
    expect(() => catalog.resolve({ datastore: 'redis', provider: 'aws' })).toThrow(NoImageForProviderError);
  });

  it('throws typed errors for unknown datastores and versions', () => {
    expect(() => catalog.getDatastore('mysql')).toThrow(new DatastoreNotFoundError('mysql', ['redis', 'postgresql']));
    const error = (() => {
      try {
        catalog.getVersion('redis', '6');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(DatastoreVersionNotFoundError);
    expect((error as DatastoreVersionNotFoundError).code).toBe('DATASTORE_VERSION_NOT_FOUND');
  });

  it('refuses inactive versions for new instances', () => {
    const [redis] = defaultDatastores();
    const entry = { ...redis!, versions: redis!.versions.map((v) => ({ ...v, active: false })) };
    const inactive = new DatastoreCatalog([entry]);
    expect(() => inactive.resolve({ datastore: 'redis', provider: 'fake' })).toThrow(DatastoreVersionInactiveError);
    expect(inactive.getVersion('redis').active).toBe(false);
  });

  it('validates catalog entries, naming the field and rule', () => {
    const [redis] = defaultDatastores();
    const error = validationError(
      () =>
        new DatastoreCatalog([
          {
            ...redis!,
            defaultVersion: '8',
            versions: [
              {
                ...redis!.versions[0]!,
                parameters: [
                  { name: 'maxclients', type: 'int', min: 10, max: 1, restartRequired: false },
                  { name: 'appendonly', type: 'boolean', min: 0, restartRequired: false },
                ],
              },
            ],
          },
        ]),
    );
    expect(error.issues).toEqual([
      { path: 'versions.0.parameters.0.min', message: 'min must not exceed max' },
      { path: 'versions.0.parameters.1.type', message: 'min and max apply to int and float parameters only' },
      { path: 'defaultVersion', message: 'must name one of the versions (7)' },
    ]);
    expect(() => new DatastoreCatalog([redis!, redis!])).toThrow(/name: duplicate datastore "redis"/);
  });
});

describe('configuration overrides', () => {
  const catalog = createDefaultCatalog();

  it('accepts valid values, converting text, and lists what needs a restart', () => {
    expect(
      catalog.validateOverrides('redis', '7', {
        maxmemory: '104857600',
        'maxmemory-policy': 'allkeys-lru',
        appendonly: 'yes',
        databases: 32,
      }),
    ).toEqual({
      values: { maxmemory: 104857600, 'maxmemory-policy': 'allkeys-lru', appendonly: true, databases: 32 },
      restartRequired: ['databases'],
    });
    expect(catalog.validateOverrides('postgresql', '15', { random_page_cost: '1.5' }).values).toEqual({
      random_page_cost: 1.5,
    });
  });

  it('names each parameter and the rule it breaks', () => {
    const error = validationError(() =>
      catalog.validateOverrides('postgresql', '15', {
        max_connections: 0,
        work_mem: 'lots',
        log_statement: 'everything',
        autovacuum: 3,
        fsync: false,
        statement_timeout: 1.5,
      }),
    );
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.issues).toEqual([
      { path: 'configuration.max_connections', message: 'must be at least 1 (got 0)' },
      { path: 'configuration.work_mem', message: 'must be an integer (got "lots")' },
      { path: 'configuration.log_statement', message: 'must be one of "none", "ddl", "mod", "all" (got "everything")' },
      { path: 'configuration.autovacuum', message: 'must be a boolean (got 3)' },
      { path: 'configuration.fsync', message: 'is not a configurable parameter of this datastore version' },
      { path: 'configuration.statement_timeout', message: 'must be an integer (got 1.5)' },
    ]);
    expect(error.message).toMatch(
      /^invalid configuration overrides: configuration.max_connections: must be at least 1/,
    );
  });

  it('enforces the maximum and refuses multi-line strings', () => {
    expect(() => catalog.validateOverrides('redis', '7', { databases: 5000 })).toThrow(
      'configuration.databases: must be at most 1024 (got 5000)',
    );
    expect(() => catalog.validateOverrides('redis', '7', { 'maxmemory-policy': 'noeviction\nrename-command' })).toThrow(
      /configuration.maxmemory-policy: must be a single-line string/,
    );
  });
});
