/**
 * Issuing the certificates corral uses. Names follow messaging/identity.ts: a guest's CN is its guest id
 * (OU guest), a control-plane process's CN is `service.<name>` (OU service). notBefore is backdated 5 minutes
 * so a guest whose clock runs a little behind still accepts its fresh certificate.
 */
import type { PublicKeyInfo } from 'pkijs';
import { guestIdentity, serviceIdentity } from '../messaging/identity.js';
import type { CertificateAuthority } from './ca.js';
import { buildCertificate, type CertificateProfile } from './certificate.js';
import { verifyCsr } from './csr.js';
import { exportPrivateKeyPem, generateKeyPair } from './keys.js';

const DAY_MS = 24 * 3600 * 1000;
export const BACKDATE_MS = 5 * 60_000;

/** Loopback for the host, 10.0.2.2 for guests under QEMU user-mode networking (the host's loopback alias). */
export const DEFAULT_BROKER_IP_SANS = ['127.0.0.1', '10.0.2.2'];
export const DEFAULT_BROKER_DNS_SANS = ['localhost'];

export interface IssuedCertificate {
  certPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export interface IssuedKeyAndCertificate extends IssuedCertificate {
  /** The subject's private key (PKCS#8 PEM). Never log it. */
  keyPem: string;
}

export interface ValidityOptions {
  validityDays?: number;
  /** Explicit bounds (tests use them for expired certificates); override validityDays. */
  notBefore?: Date;
  notAfter?: Date;
}

function validity(options: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return {
    notBefore: options.notBefore ?? new Date(now - BACKDATE_MS),
    notAfter: options.notAfter ?? new Date(now + (options.validityDays ?? defaultDays) * DAY_MS),
  };
}

async function issueWithNewKey(
  ca: CertificateAuthority,
  subject: { commonName: string; organizationalUnit: string },
  profile: CertificateProfile,
  range: { notBefore: Date; notAfter: Date },
  sans: { dnsNames?: string[]; ipAddresses?: string[] } = {},
): Promise<IssuedKeyAndCertificate> {
  const keys = await generateKeyPair();
  const issued = await buildCertificate({
    subject,
    profile,
    publicKey: keys.publicKey,
    issuer: { certificate: ca.certificate, privateKey: ca.privateKey },
    ...range,
    ...sans,
  });
  return {
    certPem: issued.certPem,
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    serial: issued.serial,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
  };
}

export interface ServerCertificateOptions extends ValidityOptions {
  commonName?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
}

export async function issueServerCertificate(
  ca: CertificateAuthority,
  options: ServerCertificateOptions = {},
): Promise<IssuedKeyAndCertificate> {
  return issueWithNewKey(
    ca,
    { commonName: options.commonName ?? 'corral-broker', organizationalUnit: 'broker' },
    'server',
    validity(options, 365),
    {
      dnsNames: options.dnsNames ?? DEFAULT_BROKER_DNS_SANS,
      ipAddresses: options.ipAddresses ?? DEFAULT_BROKER_IP_SANS,
    },
  );
}

/** A key pair made here and a client certificate for it (for bootstraps that ship both to the guest). */
export async function issueGuestCertificate(
  ca: CertificateAuthority,
  options: ValidityOptions & { guestId: string },
): Promise<IssuedKeyAndCertificate> {
  const identity = guestIdentity(options.guestId);
  return issueWithNewKey(ca, { commonName: identity.cn, organizationalUnit: 'guest' }, 'client', validity(options, 7));
}

/** One per control-plane process (each its own MQTT client id = CN). */
export async function issueServiceCertificate(
  ca: CertificateAuthority,
  options: ValidityOptions & { name: string },
): Promise<IssuedKeyAndCertificate> {
  const identity = serviceIdentity(options.name);
  return issueWithNewKey(
    ca,
    { commonName: identity.cn, organizationalUnit: 'service' },
    'client',
    validity(options, 30),
  );
}

/**
 * Signs a guest's CSR: its signature is verified (proof the guest holds the key), then ONLY its public key is
 * copied. The subject is ours (CN = guestId), whatever the CSR asked for.
 */
export async function signGuestCsr(
  ca: CertificateAuthority,
  csrPem: string | Buffer,
  options: ValidityOptions & { guestId: string; serial?: Uint8Array },
): Promise<IssuedCertificate> {
  const identity = guestIdentity(options.guestId);
  const spki: PublicKeyInfo = await verifyCsr(csrPem);
  const issued = await buildCertificate({
    subject: { commonName: identity.cn, organizationalUnit: 'guest' },
    profile: 'client',
    publicKey: spki,
    issuer: { certificate: ca.certificate, privateKey: ca.privateKey },
    ...validity(options, 7),
    ...(options.serial !== undefined && { serial: options.serial }),
  });
  return { certPem: issued.certPem, serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.notAfter };
}
