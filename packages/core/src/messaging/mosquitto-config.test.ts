import { describe, expect, it } from 'vitest';
import { mosquittoAcl, mosquittoConfig } from './mosquitto-config.js';

describe('generated mosquitto configuration', () => {
  it('requires client certificates and uses the CN as username and client id', () => {
    const conf = mosquittoConfig({
      host: '127.0.0.1',
      port: 18883,
      caFile: '/d/ca.pem',
      certFile: '/d/s.pem',
      keyFile: '/d/k.pem',
      aclFile: '/d/acl',
      crlFile: '/d/crl.pem',
    });
    for (const line of [
      'listener 18883 127.0.0.1',
      'require_certificate true',
      'use_identity_as_username true',
      'use_username_as_clientid true',
      'allow_anonymous false',
      'crlfile /d/crl.pem',
      'acl_file /d/acl',
    ]) {
      expect(conf.split('\n')).toContain(line);
    }
  });

  it('gives guests their own subtree through %u patterns and services the prefix', () => {
    const acl = mosquittoAcl(['conductor-1']).split('\n');
    expect(acl).toContain('pattern write corral/v1/guest/%u/reply');
    expect(acl).toContain('pattern write corral/v1/guest/%u/conductor');
    expect(acl).toContain('pattern write corral/v1/guest/%u/state');
    expect(acl).toContain('pattern read corral/v1/guest/%u/rpc');
    expect(acl.filter((l) => l.startsWith('pattern')).length).toBe(4);
    expect(acl).toContain('user service.conductor-1');
    expect(acl).toContain('topic readwrite corral/v1/#');
    expect(() => mosquittoAcl(['bad name'])).toThrow();
  });
});
