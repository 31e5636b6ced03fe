import { DatastoreCatalog } from './catalog.js';
import type { DatastoreInput, ParameterRule } from './models.js';

/**
 * The datastores corral ships managers for: Redis 7 and PostgreSQL 15 (the versions Debian bookworm
 * packages; the agent's managers in packages/agent prepare them). The parameter rules are a deliberate
 * subset: the settings an application owner tunes, with the bounds the servers themselves enforce.
 */

export interface DefaultCatalogOptions {
  /** Image per provider name; every provider boots the same corral guest image unless told otherwise. */
  images?: Record<string, string>;
}

const DEFAULT_IMAGES = { libvirt: 'corral-guest', openstack: 'corral-guest', fake: 'corral-guest' };

const redisParameters: ParameterRule[] = [
  { name: 'maxmemory', type: 'int', min: 0, restartRequired: false, description: 'Memory limit in bytes; 0 = none.' },
  {
    name: 'maxmemory-policy',
    type: 'string',
    allowed: [
      'noeviction',
      'allkeys-lru',
      'volatile-lru',
      'allkeys-lfu',
      'volatile-lfu',
      'allkeys-random',
      'volatile-random',
      'volatile-ttl',
    ],
    restartRequired: false,
  },
  { name: 'maxclients', type: 'int', min: 1, max: 100_000, restartRequired: false },
  { name: 'timeout', type: 'int', min: 0, max: 31_536_000, restartRequired: false },
  { name: 'tcp-keepalive', type: 'int', min: 0, max: 7_200, restartRequired: false },
  { name: 'appendonly', type: 'boolean', restartRequired: false },
  { name: 'appendfsync', type: 'string', allowed: ['always', 'everysec', 'no'], restartRequired: false },
  { name: 'loglevel', type: 'string', allowed: ['debug', 'verbose', 'notice', 'warning'], restartRequired: false },
  { name: 'databases', type: 'int', min: 1, max: 1_024, restartRequired: true },
  { name: 'hz', type: 'int', min: 1, max: 500, restartRequired: false },
];

const postgresqlParameters: ParameterRule[] = [
  { name: 'max_connections', type: 'int', min: 1, max: 10_000, restartRequired: true },
  {
    name: 'shared_buffers',
    type: 'int',
    min: 16,
    max: 1_073_741_823,
    restartRequired: true,
    description: '8 kB pages.',
  },
  { name: 'work_mem', type: 'int', min: 64, max: 2_147_483_647, restartRequired: false, description: 'kB.' },
  {
    name: 'maintenance_work_mem',
    type: 'int',
    min: 1_024,
    max: 2_147_483_647,
    restartRequired: false,
    description: 'kB.',
  },
  {
    name: 'effective_cache_size',
    type: 'int',
    min: 1,
    max: 2_147_483_647,
    restartRequired: false,
    description: '8 kB pages.',
  },
  { name: 'random_page_cost', type: 'float', min: 0, max: 1.79e308, restartRequired: false },
  { name: 'statement_timeout', type: 'int', min: 0, max: 2_147_483_647, restartRequired: false, description: 'ms.' },
  { name: 'log_min_duration_statement', type: 'int', min: -1, max: 2_147_483_647, restartRequired: false },
  { name: 'autovacuum', type: 'boolean', restartRequired: false },
  {
    name: 'log_statement',
    type: 'string',
    allowed: ['none', 'ddl', 'mod', 'all'],
    restartRequired: false,
  },
  { name: 'max_wal_size', type: 'int', min: 2, max: 2_147_483_647, restartRequired: false, description: 'MB.' },
];

export function defaultDatastores(options: DefaultCatalogOptions = {}): DatastoreInput[] {
  const images = options.images ?? DEFAULT_IMAGES;
  return [
    {
      name: 'redis',
      defaultVersion: '7',
      versions: [
        {
          name: '7',
          manager: 'redis',
          images,
          packages: ['redis-server', 'redis-tools'],
          active: true,
          capabilities: {
            databases: false,
            users: true,
            root: true,
            backups: false,
            volumes: true,
            liveOverrides: true,
          },
          parameters: redisParameters,
          port: 6379,
        },
      ],
    },
    {
      name: 'postgresql',
      defaultVersion: '15',
      versions: [
        {
          name: '15',
          manager: 'postgresql',
          images,
          packages: ['postgresql-15', 'postgresql-client-15'],
          active: true,
          capabilities: {
            databases: true,
            users: true,
            root: true,
            backups: false,
            volumes: true,
            liveOverrides: true,
          },
          parameters: postgresqlParameters,
          port: 5432,
        },
      ],
    },
  ];
}

export function createDefaultCatalog(options: DefaultCatalogOptions = {}): DatastoreCatalog {
  return new DatastoreCatalog(defaultDatastores(options));
}
