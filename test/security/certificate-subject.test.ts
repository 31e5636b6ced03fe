/**
 * Certificates corral never issues, made with Debian's openssl and signed by corral's own CA: the embedded broker
 * refuses any subject that is not exactly one CN and one OU naming the CN's role (two CNs used to be read by the
 * first one and took another guest's session). And guest certificates follow RFC 5280: CA:FALSE carries no
 * pathLenConstraint. (mosquitto reads only the first CN; README "Security" says so.)
 * Needs /usr/bin/openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueGuestCertificate } from '@corral/core/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, rawClient, startTestBroker, type TestBroker, type TestPki } from '../messaging/harness.js';

const openssl = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });

describe('certificate subjects on the embedded broker', () => {
  let pki: TestPki;
  let broker: TestBroker;
  let dir: string;

  /** A client certificate with this subject, signed by corral's CA with openssl. */
  async function forge(subject: string): Promise<{ cert: string; key: string }> {
    const name = `c${Math.random().toString(36).slice(2)}`;
    const file = (ext: string) => join(dir, `${name}.${ext}`);
    openssl(['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', file('key')]);
    openssl(['req', '-new', '-key', file('key'), '-subj', subject, '-multivalue-rdn', '-out', file('csr')]);
    await writeFile(file('ext'), 'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n');
    openssl(
      ['x509', '-req', '-in', file('csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca-key.pem')].concat([
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        file('ext'),
        '-out',
        file('pem'),
      ]),
    );
    return { cert: await readFile(file('pem'), 'utf8'), key: await readFile(file('key'), 'utf8') };
  }

  beforeAll(async () => {
    pki = await createTestPki();
    broker = await startTestBroker('aedes', pki);
    dir = await mkdtemp(join(tmpdir(), 'corral-subjects-'));
    await writeFile(join(dir, 'ca.pem'), pki.ca.certPem);
    await writeFile(join(dir, 'ca-key.pem'), pki.ca.keyPem, { mode: 0o600 });
  });
  afterAll(async () => {
    await broker?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts the subject corral issues, made by openssl the same way', async () => {
    const { cert, key } = await forge('/OU=guest/CN=guest-plain');
    const client = await rawClient(broker, { clientId: 'guest-plain', ca: pki.ca.certPem, cert, key });
    client.end(true);
  });

  it.each([
    ['two CNs', '/OU=guest/CN=guest-victim/CN=guest-attacker', 'guest-victim'],
    ['two OUs', '/OU=guest/OU=service/CN=guest-two-ou', 'guest-two-ou'],
    ['OU service on a guest CN', '/OU=service/CN=guest-as-service', 'guest-as-service'],
    ['an extra O', '/O=evil/OU=guest/CN=guest-with-o', 'guest-with-o'],
  ])('refuses %s', async (_what, subject, clientId) => {
    const { cert, key } = await forge(subject);
    await expect(rawClient(broker, { clientId, ca: pki.ca.certPem, cert, key })).rejects.toThrow();
  });

  it('guest certificates carry CA:FALSE without pathLenConstraint', async () => {
    const issued = await issueGuestCertificate(pki.ca, { guestId: 'guest-rfc5280' });
    await writeFile(join(dir, 'guest.pem'), issued.certPem);
    const text = openssl(['x509', '-in', join(dir, 'guest.pem'), '-noout', '-ext', 'basicConstraints']);
    expect(text).toContain('CA:FALSE');
    expect(text).not.toMatch(/pathlen/i);
  });
});
