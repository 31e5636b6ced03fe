import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { BadRequestError, describeIssues } from '@corral/core/contract';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import { PROVIDER_NAME } from '../common/errors.js';
import { AuthOptionsSchema, type ResolvedAuthOptions } from './auth-options.js';
import { canonicalServiceType, EndpointInterface } from './catalog.js';

/** One cloud, resolved from clouds.yaml and/or OS_* variables the way openstacksdk does it. */
export interface CloudConfig {
  name: string;
  auth: ResolvedAuthOptions;
  regionName?: string;
  interface: EndpointInterface;
  /** Service type → URL, from `<service>_endpoint_override` keys. */
  endpointOverrides: Record<string, string>;
  /** `compute_api_version` if set: the microversion to ask Nova for. */
  computeApiVersion?: string;
  /** The file the cloud came from; absent for the `envvars` cloud. */
  source?: string;
}

export interface LoadCloudOptions {
  /** Cloud name; defaults to OS_CLOUD, then the `envvars` cloud, then the only cloud in the file. */
  cloud?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  home?: string;
}

const RawCloudSchema = z.looseObject({
  auth_type: z.string().optional(),
  auth: z.record(z.string(), z.unknown()).optional(),
  region_name: z.string().optional(),
  interface: z.string().optional(),
  identity_api_version: z.union([z.string(), z.number()]).optional(),
  compute_api_version: z.union([z.string(), z.number()]).optional(),
});
type RawCloud = z.infer<typeof RawCloudSchema>;
const CloudsFileSchema = z.object({ clouds: z.record(z.string(), RawCloudSchema) });

/** Keys that belong in `auth` even when given at the top level (as OS_* variables always are). */
const authKeys = new Set([
  'auth_url',
  'username',
  'user_id',
  'password',
  'user_domain_name',
  'user_domain_id',
  'project_name',
  'project_id',
  'tenant_name',
  'tenant_id',
  'project_domain_name',
  'project_domain_id',
  'domain_name',
  'domain_id',
  'default_domain_name',
  'default_domain_id',
  'application_credential_id',
  'application_credential_name',
  'application_credential_secret',
  'token',
]);

/** OS_* variables that select a cloud rather than describe one (openstacksdk's list). */
const selectorVariables = new Set([
  'OS_CLOUD',
  'OS_REGION_NAME',
  'OS_CLIENT_CONFIG_FILE',
  'OS_CLIENT_SECURE_FILE',
  'OS_CLOUD_NAME',
]);

/** Where clouds.yaml is looked for, first found wins: OS_CLIENT_CONFIG_FILE, ., ~/.config/openstack, /etc/openstack. */
export function configSearchPath(basename: 'clouds' | 'secure', options: LoadCloudOptions = {}): string[] {
  const env = options.env ?? process.env;
  const home = options.home ?? homedir();
  const configHome = env.XDG_CONFIG_HOME ? join(env.XDG_CONFIG_HOME, 'openstack') : join(home, '.config', 'openstack');
  const dirs = [options.cwd ?? process.cwd(), configHome, '/etc/openstack'];
  const files = dirs.flatMap((dir) => ['.yaml', '.yml', '.json'].map((suffix) => join(dir, `${basename}${suffix}`)));
  const explicit = basename === 'clouds' ? env.OS_CLIENT_CONFIG_FILE : env.OS_CLIENT_SECURE_FILE;
  return explicit ? [resolve(explicit), ...files] : files;
}

/** Resolves one cloud's configuration; throws a BadRequestError naming the file, the field and the rule. */
export function loadCloudConfig(options: LoadCloudOptions = {}): CloudConfig {
  const env = options.env ?? process.env;
  const cloudsFile = configSearchPath('clouds', options).find((file) => existsSync(file));
  const secureFile = configSearchPath('secure', options).find((file) => existsSync(file));
  const clouds = cloudsFile ? readCloudsFile(cloudsFile) : {};
  const secure = secureFile ? readCloudsFile(secureFile) : {};
  const envCloud = cloudFromEnv(env);
  const envName = env.OS_CLOUD_NAME ?? 'envvars';

  let name = options.cloud ?? env.OS_CLOUD;
  if (!name) {
    const names = Object.keys(clouds);
    if (envCloud) name = envName;
    else if (names.length === 1 && names[0]) name = names[0];
    else {
      throw invalid(
        `no cloud chosen: set OS_CLOUD or pass { cloud }; ${cloudsFile ? `${cloudsFile} has: ${names.join(', ') || 'none'}` : 'no clouds.yaml found'}`,
      );
    }
  }
  let raw: RawCloud | undefined;
  let source: string | undefined;
  if (name === envName && envCloud) raw = envCloud;
  else if (clouds[name] !== undefined) {
    raw = merge(clouds[name] ?? {}, secure[name] ?? {});
    source = cloudsFile;
  }
  if (!raw) {
    throw invalid(
      `cloud "${name}" not found (${cloudsFile ? `${cloudsFile} has: ${Object.keys(clouds).join(', ')}` : 'no clouds.yaml found'})`,
    );
  }
  return resolveCloud(name, raw, env.OS_REGION_NAME, source);
}

function readCloudsFile(file: string): Record<string, RawCloud> {
  const text = readFileSync(file, 'utf8');
  const document: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  const parsed = CloudsFileSchema.safeParse(document);
  if (!parsed.success) throw invalid(`${file}: ${describeIssues(parsed.error)}`);
  return parsed.data.clouds;
}

function cloudFromEnv(env: Record<string, string | undefined>): RawCloud | undefined {
  const keys = Object.keys(env).filter(
    (key) =>
      key.startsWith('OS_') && !key.startsWith('OS_TEST') && !key.startsWith('OS_STD') && !key.startsWith('OS_LOG'),
  );
  if (!keys.some((key) => !selectorVariables.has(key))) return undefined;
  const flat: Record<string, unknown> = {};
  for (const key of keys) if (!selectorVariables.has(key)) flat[key.slice(3).toLowerCase()] = env[key];
  return RawCloudSchema.parse(flat);
}

function merge(base: RawCloud, extra: RawCloud): RawCloud {
  return { ...base, ...extra, auth: { ...base.auth, ...extra.auth } };
}

function resolveCloud(
  name: string,
  raw: RawCloud,
  regionFromEnv: string | undefined,
  source: string | undefined,
): CloudConfig {
  const where = source ? `${source}: cloud "${name}"` : `OS_* variables (cloud "${name}")`;
  const auth: Record<string, unknown> = { ...raw.auth };
  const overrides: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (authKeys.has(key) && auth[key] === undefined) auth[key] = value;
    const override = /^(.+)_endpoint_override$/.exec(key);
    if (override?.[1] && typeof value === 'string') overrides[canonicalServiceType(override[1])] = value;
  }
  const text = (key: string) => (typeof auth[key] === 'string' ? (auth[key] as string) : undefined);
  const defaultDomainId = text('default_domain_id');
  const defaultDomainName = text('default_domain_name');
  const hasUserDomain = text('user_domain_id') ?? text('user_domain_name');
  const hasProjectDomain = text('project_domain_id') ?? text('project_domain_name');
  const candidate = {
    authUrl: text('auth_url'),
    method: authMethod(raw.auth_type, where),
    username: text('username'),
    userId: text('user_id'),
    password: text('password'),
    userDomainName: text('user_domain_name') ?? (hasUserDomain ? undefined : defaultDomainName),
    userDomainId: text('user_domain_id') ?? (hasUserDomain ? undefined : defaultDomainId),
    projectName: text('project_name') ?? text('tenant_name'),
    projectId: text('project_id') ?? text('tenant_id'),
    projectDomainName: text('project_domain_name') ?? (hasProjectDomain ? undefined : defaultDomainName),
    projectDomainId: text('project_domain_id') ?? (hasProjectDomain ? undefined : defaultDomainId),
    domainName: text('domain_name'),
    domainId: text('domain_id'),
    applicationCredentialId: text('application_credential_id'),
    applicationCredentialName: text('application_credential_name'),
    applicationCredentialSecret: text('application_credential_secret'),
    token: text('token'),
  };
  const parsedAuth = AuthOptionsSchema.safeParse(candidate);
  if (!parsedAuth.success) throw invalid(`${where}: ${describeIssues(parsedAuth.error)}`);
  if (raw.identity_api_version !== undefined && !String(raw.identity_api_version).startsWith('3')) {
    throw invalid(`${where}: identity_api_version ${raw.identity_api_version} is not supported (Keystone v3 only)`);
  }
  const iface = EndpointInterface.safeParse((raw.interface ?? 'public').replace(/URL$/, ''));
  if (!iface.success) throw invalid(`${where}: interface must be public, internal or admin`);
  return {
    name,
    auth: parsedAuth.data,
    regionName: regionFromEnv ?? raw.region_name,
    interface: iface.data,
    endpointOverrides: overrides,
    computeApiVersion: raw.compute_api_version === undefined ? undefined : String(raw.compute_api_version),
    source,
  };
}

function authMethod(authType: string | undefined, where: string): ResolvedAuthOptions['method'] | undefined {
  if (authType === undefined) return undefined;
  const normal = authType.replace(/^v3/, '').replace(/-/g, '_');
  if (normal === 'password') return 'password';
  if (normal === 'applicationcredential' || normal === 'application_credential') return 'applicationCredential';
  if (normal === 'token') return 'token';
  throw invalid(`${where}: auth_type "${authType}" is not supported (password, v3applicationcredential, token)`);
}

function invalid(message: string): BadRequestError {
  return new BadRequestError(`openstack config: ${message}`, { provider: PROVIDER_NAME });
}
