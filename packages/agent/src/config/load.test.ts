import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentConfigInput, encodeAgentUserData } from '@corral/core/contract';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAgentConfig } from './load.js';
import { parseBlkid } from './seed.js';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n';

const config = (guestId: string): AgentConfigInput => ({
  guestId,
  instanceId: `i-${guestId}`,
  broker: { url: 'mqtts://10.0.2.2:8883', caPem: CERT, certPem: CERT, keyPem: KEY },
  datastore: { manager: 'redis', version: '7.0' },
});

const dirs: string[] = [];
function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('loadAgentConfig', () => {
  it('reads a NoCloud seed (user-data) and a config drive (openstack/latest/user_data)', async () => {
    const nocloud = temp();
    writeFileSync(join(nocloud, 'user-data'), encodeAgentUserData(config('from-seed')));
    const loaded = await loadAgentConfig({ env: { CORRAL_SEED_DIR: nocloud } });
    expect(loaded.config.guestId).toBe('from-seed');
    expect(loaded.source).toBe(join(nocloud, 'user-data'));

    const drive = temp();
    mkdirSync(join(drive, 'openstack', 'latest'), { recursive: true });
    writeFileSync(join(drive, 'openstack', 'latest', 'user_data'), encodeAgentUserData(config('from-drive')));
    expect((await loadAgentConfig({ env: { CORRAL_SEED_DIR: drive } })).config.guestId).toBe('from-drive');
  });

  it('prefers an explicit --config over a seed, and a seed over CORRAL_AGENT_CONFIG', async () => {
    const seed = temp();
    writeFileSync(join(seed, 'user-data'), encodeAgentUserData(config('seed')));
    const file = join(temp(), 'agent.json');
    writeFileSync(file, JSON.stringify(config('file')));
    expect((await loadAgentConfig({ configPath: file, env: { CORRAL_SEED_DIR: seed } })).config.guestId).toBe('file');
    expect((await loadAgentConfig({ env: { CORRAL_SEED_DIR: seed, CORRAL_AGENT_CONFIG: file } })).config.guestId).toBe(
      'seed',
    );
    expect((await loadAgentConfig({ env: { CORRAL_AGENT_CONFIG: file } })).config.guestId).toBe('file');
  });

  it('lets CORRAL_* variables override single fields, and configures from the environment alone', async () => {
    const file = join(temp(), 'agent.json');
    writeFileSync(file, JSON.stringify(config('file')));
    const ca = join(temp(), 'ca.pem');
    writeFileSync(ca, CERT);
    const loaded = await loadAgentConfig({
      configPath: file,
      env: { CORRAL_LOG_LEVEL: 'debug', CORRAL_DATASTORE_PORT: '6380', CORRAL_MANAGERS: 'custom=/opt/m.mjs' },
    });
    expect(loaded.config.logLevel).toBe('debug');
    expect(loaded.config.datastore.port).toBe(6380);
    expect(loaded.config.managers).toEqual({ custom: '/opt/m.mjs' });

    const fromEnv = await loadAgentConfig({
      env: {
        CORRAL_GUEST_ID: 'env-guest',
        CORRAL_INSTANCE_ID: 'i1',
        CORRAL_BROKER_URL: 'mqtts://127.0.0.1:8883',
        CORRAL_BROKER_CA_FILE: ca,
        CORRAL_ENROLMENT_TOKEN: 'token-0123456789abcdef',
        CORRAL_DATASTORE_MANAGER: 'postgresql',
        CORRAL_DATASTORE_VERSION: '15',
      },
    }).catch((error: Error) => error);
    // Enrolment needs its URL too: the error names the field.
    expect(String(fromEnv)).toContain('broker.enrolment.url: Invalid input');
  });

  it('names the field and rule, the source, and never echoes values', async () => {
    const file = join(temp(), 'agent.json');
    writeFileSync(file, JSON.stringify({ ...config('x'), broker: { ...config('x').broker, keyPem: 'sekrit' } }));
    await expect(loadAgentConfig({ configPath: file, env: {} })).rejects.toThrow(
      `invalid agent configuration (${file}): broker.keyPem: must be a PEM private key (BEGIN PRIVATE KEY)`,
    );
    const bad = join(temp(), 'bad.json');
    writeFileSync(bad, '{"token": "sekrit"');
    const error = await loadAgentConfig({ configPath: bad, env: {} }).catch((e: Error) => e);
    expect(String(error)).toContain('not valid JSON');
    expect(String(error)).not.toContain('sekrit');
    await expect(loadAgentConfig({ env: {} })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(loadAgentConfig({ env: { CORRAL_SEED_DIR: temp() } })).rejects.toThrow(/holds no user-data/);
    await expect(loadAgentConfig({ env: { CORRAL_MANAGERS: 'oops' } })).rejects.toThrow(/CORRAL_MANAGERS: must be/);
  });
});

describe('parseBlkid', () => {
  it('reads util-linux and busybox output', () => {
    const output = [
      '/dev/vda1: UUID="0b1f" TYPE="ext4" PARTUUID="1"',
      '/dev/sr0: LABEL="cidata" TYPE="iso9660"',
      '/dev/vdb: UUID="x" LABEL="config-2" TYPE="vfat"',
    ].join('\n');
    expect(parseBlkid(output)).toEqual([
      { device: '/dev/sr0', label: 'cidata', type: 'iso9660' },
      { device: '/dev/vdb', label: 'config-2', type: 'vfat' },
    ]);
  });
});
