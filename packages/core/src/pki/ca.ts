/**
 * The certificate authority: created once per control plane (PEM on disk, key file 0600) and loaded after.
 * It issues the broker's server certificate, one client certificate per guest and per control-plane process,
 * and the CRL.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Certificate } from 'pkijs';
import { buildCertificate, parseCertificatePem } from './certificate.js';
import { type CryptoKey, exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem } from './keys.js';
import { readName } from './names.js';

export interface CertificateAuthority {
  certificate: Certificate;
  certPem: string;
  /** PEM of the CA's private key. Never log it. */
  keyPem: string;
  privateKey: CryptoKey;
  commonName: string;
}

export interface CreateCaOptions {
  commonName?: string;
  validityDays?: number;
}

const DAY_MS = 24 * 3600 * 1000;

export async function createCa(options: CreateCaOptions = {}): Promise<CertificateAuthority> {
  const commonName = options.commonName ?? 'corral CA';
  const keys = await generateKeyPair();
  const now = Date.now();
  const issued = await buildCertificate({
    subject: { commonName, organization: 'corral' },
    profile: 'ca',
    publicKey: keys.publicKey,
    selfSignKey: keys.privateKey,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + (options.validityDays ?? 3650) * DAY_MS),
  });
  return {
    certificate: issued.certificate,
    certPem: issued.certPem,
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    privateKey: keys.privateKey,
    commonName,
  };
}

export async function loadCa(pems: { certPem: string; keyPem: string }): Promise<CertificateAuthority> {
  const certificate = parseCertificatePem(pems.certPem);
  return {
    certificate,
    certPem: pems.certPem,
    keyPem: pems.keyPem,
    privateKey: await importPrivateKeyPem(pems.keyPem),
    commonName: readName(certificate.subject).commonName,
  };
}

/** Loads `ca.pem` + `ca-key.pem` from `dir`, or creates them (key file mode 0600, directory 0700). */
export async function loadOrCreateCa(dir: string, options: CreateCaOptions = {}): Promise<CertificateAuthority> {
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca-key.pem');
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    return await loadCa({ certPem, keyPem });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa(options);
  // Write the key first and exclusively: two processes racing to create a CA must not mix halves.
  await writeFile(keyFile, ca.keyPem, { mode: 0o600, flag: 'wx' });
  await writeFile(certFile, ca.certPem, { mode: 0o644, flag: 'wx' });
  return ca;
}
