import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadRequestError } from '@corral/core/contract';
import { describe, expect, it } from 'vitest';
import { loadCloudConfig } from './config.js';
import { authRequestBody } from './tokens/requests.js';

function fixture() {
  const root = mkdtempSync(join(tmpdir(), 'corral-clouds-'));
  const cwd = join(root, 'cwd');
  const home = join(root, 'home');
  mkdirSync(cwd);
  mkdirSync(join(home, '.config', 'openstack'), { recursive: true });
  return { root, cwd, home };
}

const cloudsYaml = (name: string, project = 'demo') => `clouds:
  ${name}:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: demo
      password: secret
      project_name: ${project}
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    compute_endpoint_override: http://127.0.0.1:9999/v2.1
    volumev3_endpoint_override: http://127.0.0.1:9998/v3
`;

describe('loadCloudConfig', () => {
  it('prefers ./clouds.yaml over ~/.config/openstack and reads overrides', () => {
    const { cwd, home } = fixture();
    writeFileSync(join(cwd, 'clouds.yaml'), cloudsYaml('here', 'from-cwd'));
    writeFileSync(join(home, '.config', 'openstack', 'clouds.yaml'), cloudsYaml('here', 'from-home'));
    const config = loadCloudConfig({ cloud: 'here', cwd, home, env: {} });
    expect(config.auth.projectName).toBe('from-cwd');
    expect(config.regionName).toBe('RegionOne');
    expect(config.endpointOverrides).toEqual({
      compute: 'http://127.0.0.1:9999/v2.1',
      'block-storage': 'http://127.0.0.1:9998/v3',
    });
    expect(config.auth.method).toBe('password');
  });

  it('puts OS_CLIENT_CONFIG_FILE first, picks OS_CLOUD, and lets OS_REGION_NAME select the region', () => {
    const { root, cwd, home } = fixture();
    writeFileSync(join(cwd, 'clouds.yaml'), cloudsYaml('a'));
    const explicit = join(root, 'mine.yaml');
    writeFileSync(explicit, cloudsYaml('b', 'explicit'));
    const config = loadCloudConfig({
      cwd,
      home,
      env: { OS_CLIENT_CONFIG_FILE: explicit, OS_CLOUD: 'b', OS_REGION_NAME: 'RegionTwo' },
    });
    expect(config.auth.projectName).toBe('explicit');
    expect(config.regionName).toBe('RegionTwo');
    expect(config.source).toBe(explicit);
  });

  it('merges secure.yaml secrets into the cloud', () => {
    const { cwd, home } = fixture();
    writeFileSync(join(cwd, 'clouds.yaml'), cloudsYaml('a').replace('      password: secret\n', ''));
    writeFileSync(join(cwd, 'secure.yaml'), 'clouds:\n  a:\n    auth:\n      password: from-secure\n');
    expect(loadCloudConfig({ cwd, home, env: {} }).auth.password).toBe('from-secure');
  });

  it('builds the envvars cloud from OS_* like openstacksdk, application credentials included', () => {
    const { cwd, home } = fixture();
    const config = loadCloudConfig({
      cwd,
      home,
      env: {
        OS_AUTH_URL: 'http://127.0.0.1:5000',
        OS_APPLICATION_CREDENTIAL_ID: 'ac1',
        OS_APPLICATION_CREDENTIAL_SECRET: 's3',
        OS_AUTH_TYPE: 'v3applicationcredential',
        OS_INTERFACE: 'internalURL',
        OS_TEST_IGNORED: '1',
      },
    });
    expect(config.name).toBe('envvars');
    expect(config.interface).toBe('internal');
    expect(config.auth.method).toBe('applicationCredential');
    expect(authRequestBody(config.auth)).toEqual({
      auth: { identity: { methods: ['application_credential'], application_credential: { id: 'ac1', secret: 's3' } } },
    });
  });

  it('names the field and the rule when the config is incomplete', () => {
    const { cwd, home } = fixture();
    const env = { OS_AUTH_URL: 'http://127.0.0.1:5000/v3', OS_USERNAME: 'demo', OS_PROJECT_NAME: 'demo' };
    expect(() => loadCloudConfig({ cwd, home, env })).toThrow(BadRequestError);
    expect(() => loadCloudConfig({ cwd, home, env })).toThrow(/password: password auth needs a password/);
    expect(() => loadCloudConfig({ cwd, home, env: { ...env, OS_PASSWORD: 'x' } })).toThrow(/userDomainName/);
    expect(() => loadCloudConfig({ cwd, home, env: {} })).toThrow(/no cloud chosen/);
    expect(() => loadCloudConfig({ cwd, home, env: { OS_CLOUD: 'nope' } })).toThrow(/cloud "nope" not found/);
  });

  it('scopes password tokens to a project, a domain, or nothing', () => {
    const { cwd, home } = fixture();
    const base = { OS_AUTH_URL: 'http://k/v3', OS_USERNAME: 'admin', OS_PASSWORD: 'p', OS_USER_DOMAIN_NAME: 'Default' };
    const project = loadCloudConfig({
      cwd,
      home,
      env: { ...base, OS_PROJECT_NAME: 'admin', OS_PROJECT_DOMAIN_NAME: 'Default' },
    });
    expect(authRequestBody(project.auth)).toMatchObject({
      auth: { scope: { project: { name: 'admin', domain: { name: 'Default' } } } },
    });
    const domain = loadCloudConfig({ cwd, home, env: { ...base, OS_DOMAIN_NAME: 'Default' } });
    expect(authRequestBody(domain.auth)).toMatchObject({ auth: { scope: { domain: { name: 'Default' } } } });
    const unscoped = loadCloudConfig({ cwd, home, env: base });
    expect(authRequestBody(unscoped.auth).auth).not.toHaveProperty('scope'); // Keystone: the default project
    expect(authRequestBody({ ...unscoped.auth, unscoped: true }).auth).toMatchObject({ scope: 'unscoped' });
  });
});
