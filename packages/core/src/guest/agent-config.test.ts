import { describe, expect, it } from 'vitest';
import { describeIssues } from '../provider/validate.js';
import { type AgentConfigInput, AgentConfigSchema, AgentUserDataError, encodeAgentUserData } from './agent-config.js';
import { decodeAgentUserData } from './agent-user-data.js';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n';

const valid: AgentConfigInput = {
  guestId: 'guest-1',
  instanceId: 'inst-1',
  broker: { url: 'mqtts://10.0.2.2:8883', caPem: CERT, certPem: CERT, keyPem: KEY },
  datastore: { manager: 'redis', version: '7.0' },
};

function issues(input: unknown): string {
  const result = AgentConfigSchema.safeParse(input);
  if (result.success) throw new Error('expected a failure');
  return describeIssues(result.error);
}

describe('AgentConfigSchema', () => {
  it('applies defaults', () => {
    const config = AgentConfigSchema.parse(valid);
    expect(config.heartbeatIntervalSeconds).toBe(10);
    expect(config.stateDir).toBe('/var/lib/corral-agent');
    expect(config.logLevel).toBe('info');
    expect(config.managers).toEqual({});
    expect(config.datastore.options).toEqual({});
  });

  it('accepts enrolment instead of a certificate', () => {
    const config = AgentConfigSchema.parse({
      ...valid,
      broker: {
        url: 'mqtts://127.0.0.1:8883',
        caPem: CERT,
        enrolment: { url: 'https://127.0.0.1:8884/v1/enrol', token: 'a'.repeat(32) },
      },
    });
    expect(config.broker.enrolment?.timeoutSeconds).toBe(60);
  });

  it('names the field and the rule', () => {
    expect(issues({ ...valid, guestId: 'a/b' })).toMatch(/^guestId: must be 1-128 letters/);
    expect(issues({ ...valid, broker: { ...valid.broker, url: 'http://x' } })).toMatch(
      /broker\.url: must be a broker URL/,
    );
    expect(issues({ ...valid, broker: { ...valid.broker, keyPem: undefined } })).toMatch(
      /broker\.keyPem: certPem and keyPem go together/,
    );
    expect(issues({ ...valid, broker: { url: 'mqtts://h:1', caPem: CERT } })).toMatch(
      /broker: needs either certPem \+ keyPem or enrolment/,
    );
    expect(
      issues({
        ...valid,
        broker: { ...valid.broker, enrolment: { url: 'https://127.0.0.1:8884/v1/enrol', token: 'x'.repeat(16) } },
      }),
    ).toMatch(/broker\.enrolment: give either/);
    expect(issues({ ...valid, broker: { ...valid.broker, caPem: 'nope' } })).toMatch(/broker\.caPem: must be a PEM/);
    expect(issues({ ...valid, stateDir: 'relative' })).toMatch(/stateDir: must be an absolute path/);
    expect(issues({ ...valid, datastore: { manager: 'Redis!', version: '7' } })).toMatch(/datastore\.manager/);
    expect(issues({ ...valid, heartbeatIntervalSeconds: 0 })).toMatch(/heartbeatIntervalSeconds/);
  });
});

describe('agent user-data', () => {
  it('round-trips through #cloud-config', () => {
    const text = encodeAgentUserData(valid);
    expect(text.startsWith('#cloud-config\n')).toBe(true);
    expect(AgentConfigSchema.parse(decodeAgentUserData(text))).toEqual(AgentConfigSchema.parse(valid));
  });

  it('reads block YAML written by hand or merged by a provider', () => {
    const text = [
      '#cloud-config',
      'hostname: g1',
      'corral:',
      '  guestId: g1',
      '  instanceId: i1',
      '  broker:',
      '    url: mqtts://10.0.2.2:8883',
      '    caPem: |',
      '      -----BEGIN CERTIFICATE-----',
      '      MIIB',
      '      -----END CERTIFICATE-----',
      '    enrolment: {url: "https://10.0.2.2:8884/v1/enrol", token: abcdefghijklmnopqrstuvwxyz}',
      '  datastore: {manager: postgresql, version: "15"}',
      '',
    ].join('\n');
    const config = AgentConfigSchema.parse(decodeAgentUserData(text));
    expect(config.datastore.version).toBe('15');
    expect(config.broker.caPem).toContain('BEGIN CERTIFICATE');
  });

  it('rejects what is not agent user-data, without quoting it', () => {
    expect(() => decodeAgentUserData('{"corral":{}}')).toThrow(AgentUserDataError);
    expect(() => decodeAgentUserData('#cloud-config\nusers: []\n')).toThrow(/no top-level "corral" key/);
    expect(() => decodeAgentUserData('#cloud-config\n{secret-token: [\n')).toThrow(/cannot be parsed as YAML/);
    try {
      decodeAgentUserData('#cloud-config\n{secret-token: [\n');
    } catch (error) {
      expect(String(error)).not.toContain('secret-token');
    }
  });
});
