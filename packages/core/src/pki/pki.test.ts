import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { CertificateRevocationList } from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCa, loadCa, loadOrCreateCa } from './ca.js';
import { RevocationList } from './crl.js';
import { createKeyAndCsr, InvalidCsrError } from './csr.js';
import { describeCertificate } from './inspect.js';
import { issueGuestCertificate, issueServerCertificate, issueServiceCertificate, signGuestCsr } from './issue.js';
import { fromPem } from './pem.js';

let ca: CertificateAuthority;
beforeAll(async () => {
  ca = await createCa({ commonName: 'unit CA' });
});

/** Runs a real mutual-TLS handshake; resolves with the client CN the server saw, or rejects. */
async function handshake(
  server: { cert: string; key: string },
  client: { cert?: string; key?: string },
  trust = ca.certPem,
  host = '127.0.0.1',
): Promise<string | undefined> {
  const tlsServer = createServer({ ...server, ca: trust, requestCert: true, rejectUnauthorized: true }, (socket) => {
    socket.end('hello');
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  const port = (tlsServer.address() as AddressInfo).port;
  let seen: string | undefined;
  tlsServer.on('secureConnection', (socket: TLSSocket) => {
    const cn = socket.getPeerCertificate().subject?.CN;
    seen = Array.isArray(cn) ? cn[0] : cn;
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        servername: host === '127.0.0.1' ? undefined : host,
        port,
        ca: ca.certPem,
        ...client,
      });
      // Node checks the server certificate against `host` (an IP SAN for 127.0.0.1 / 10.0.2.2).
      socket.on('data', () => {
        socket.end();
        resolve();
      });
      socket.on('error', reject);
      socket.on('close', () => reject(new Error('closed before data')));
    });
    return seen;
  } finally {
    tlsServer.close();
  }
}

describe('certificate authority', () => {
  it('is a CA certificate that node parses and that signs itself', () => {
    const x509 = new X509Certificate(ca.certPem);
    expect(x509.ca).toBe(true);
    expect(x509.subject).toContain('CN=unit CA');
    expect(x509.verify(x509.publicKey)).toBe(true);
  });

  it('round-trips through PEM and through a directory with a 0600 key file', async () => {
    const loaded = await loadCa({ certPem: ca.certPem, keyPem: ca.keyPem });
    const guest = await issueGuestCertificate(loaded, { guestId: 'g-1' });
    expect(new X509Certificate(guest.certPem).verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);

    const dir = await mkdtemp(join(tmpdir(), 'corral-ca-'));
    try {
      const created = await loadOrCreateCa(join(dir, 'pki'));
      expect((await stat(join(dir, 'pki', 'ca-key.pem'))).mode & 0o777).toBe(0o600);
      const again = await loadOrCreateCa(join(dir, 'pki'));
      expect(again.certPem).toBe(created.certPem);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('issued certificates', () => {
  it('the broker certificate names 127.0.0.1, localhost and 10.0.2.2 and is for servers', async () => {
    const server = await issueServerCertificate(ca);
    const x509 = new X509Certificate(server.certPem);
    expect(x509.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(x509.subjectAltName).toContain('IP Address:10.0.2.2');
    expect(x509.subjectAltName).toContain('DNS:localhost');
    expect(x509.checkIP('10.0.2.2')).toBe('10.0.2.2');
    expect(x509.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    expect(x509.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
  });

  it('a guest certificate: CN = guest id, clientAuth, 7 days, notBefore backdated', async () => {
    const before = Date.now();
    const guest = await issueGuestCertificate(ca, { guestId: 'inst-42' });
    const x509 = new X509Certificate(guest.certPem);
    expect(x509.subject).toContain('CN=inst-42');
    expect(x509.subject).toContain('OU=guest');
    expect(x509.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(x509.ca).toBe(false);
    const notBefore = new Date(x509.validFrom).getTime();
    const notAfter = new Date(x509.validTo).getTime();
    expect(before - notBefore).toBeGreaterThanOrEqual(4 * 60_000);
    expect(Math.round((notAfter - before) / 86_400_000)).toBe(7);
    expect(describeCertificate(guest.certPem).serial).toBe(x509.serialNumber.replace(/^0+/, ''));
    expect(guest.keyPem).toContain('BEGIN PRIVATE KEY');
  });

  it('refuses guest ids that could not be topic levels or that look like services', async () => {
    await expect(issueGuestCertificate(ca, { guestId: 'a/b' })).rejects.toThrow(/guest id/);
    await expect(issueGuestCertificate(ca, { guestId: '+' })).rejects.toThrow(/guest id/);
    await expect(issueGuestCertificate(ca, { guestId: 'service.x' })).rejects.toThrow(/guest id/);
  });

  it('a service certificate has CN service.<name>', async () => {
    const svc = await issueServiceCertificate(ca, { name: 'conductor-1' });
    expect(describeCertificate(svc.certPem).subject).toMatchObject({
      commonName: 'service.conductor-1',
      organizationalUnit: 'service',
    });
  });

  it('node completes a real mutual-TLS handshake with them, also when verifying the 10.0.2.2 SAN', async () => {
    const server = await issueServerCertificate(ca);
    const guest = await issueGuestCertificate(ca, { guestId: 'inst-tls' });
    const cn = await handshake(
      { cert: server.certPem, key: server.keyPem },
      { cert: guest.certPem, key: guest.keyPem },
    );
    expect(cn).toBe('inst-tls');
    // The guest's view: it connects to 10.0.2.2, so the cert must carry that IP.
    const x509 = new X509Certificate(server.certPem);
    expect(x509.checkIP('10.0.2.2')).toBeDefined();
  });

  it('a client certificate from another CA fails the handshake', async () => {
    const server = await issueServerCertificate(ca);
    const other = await createCa({ commonName: 'other' });
    const stranger = await issueGuestCertificate(other, { guestId: 'inst-x' });
    await expect(
      handshake({ cert: server.certPem, key: server.keyPem }, { cert: stranger.certPem, key: stranger.keyPem }),
    ).rejects.toThrow();
  });
});

describe('CSR enrolment', () => {
  it('signs a verified CSR, copying only its public key (the subject is ours)', async () => {
    const { keyPem, csrPem } = await createKeyAndCsr({ commonName: 'service.conductor-1' });
    const issued = await signGuestCsr(ca, csrPem, { guestId: 'inst-7' });
    const x509 = new X509Certificate(issued.certPem);
    expect(x509.subject).toContain('CN=inst-7');
    expect(x509.subject).not.toContain('service');
    // The certificate's key is the guest's: it completes a handshake with the guest's private key.
    const server = await issueServerCertificate(ca);
    expect(await handshake({ cert: server.certPem, key: server.keyPem }, { cert: issued.certPem, key: keyPem })).toBe(
      'inst-7',
    );
  });

  it('rejects a tampered CSR and garbage', async () => {
    const { csrPem } = await createKeyAndCsr({ commonName: 'x' });
    const der = Buffer.from(fromPem('CERTIFICATE REQUEST', csrPem));
    der[der.length - 5] = der[der.length - 5]! ^ 0xff; // inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(signGuestCsr(ca, tampered, { guestId: 'inst-8' })).rejects.toBeInstanceOf(InvalidCsrError);
    await expect(signGuestCsr(ca, 'not a csr', { guestId: 'inst-8' })).rejects.toBeInstanceOf(InvalidCsrError);
  });
});

describe('revocation', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-crl-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('tracks revoked serials, notifies, persists, and produces a CRL signed by the CA', async () => {
    const guest = await issueGuestCertificate(ca, { guestId: 'inst-9' });
    const list = new RevocationList();
    const notified: string[] = [];
    list.onRevoke((s) => notified.push(s));
    list.revoke(guest.serial.toLowerCase());
    expect(list.isRevoked(guest.serial)).toBe(true);
    expect(notified).toEqual([guest.serial]);

    await list.save(join(dir, 'revoked.json'));
    expect((await RevocationList.load(join(dir, 'revoked.json'))).isRevoked(guest.serial)).toBe(true);

    const crl = CertificateRevocationList.fromBER(fromPem('X509 CRL', await list.toCrlPem(ca)));
    expect(await crl.verify({ issuerCertificate: ca.certificate })).toBe(true);
    const listed = crl.revokedCertificates?.map((r) =>
      Buffer.from(r.userCertificate.valueBlock.valueHexView).toString('hex').toUpperCase().replace(/^0+/, ''),
    );
    expect(listed).toEqual([guest.serial]);
  });
});
