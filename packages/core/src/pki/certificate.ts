/**
 * Building and signing X.509 v3 certificates with pkijs: one function that knows the profiles (CA, server,
 * client) and the extensions each needs, so every certificate corral issues is shaped the same way.
 */

import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as asn1js from 'asn1js';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  Extension,
  ExtKeyUsage,
  GeneralName,
  GeneralNames,
  type PublicKeyInfo,
} from 'pkijs';
import type { CryptoKey } from './keys.js';
import { buildName, OID, randomSerial, type SubjectName, serialHex } from './names.js';
import { fromPem, toPem } from './pem.js';

export type CertificateProfile = 'ca' | 'server' | 'client';

export interface CertificateRequestSpec {
  subject: SubjectName;
  profile: CertificateProfile;
  /** The subject's public key: a WebCrypto key, or the SubjectPublicKeyInfo copied from a verified CSR. */
  publicKey: CryptoKey | PublicKeyInfo;
  /** Issuer; omitted for a self-signed CA. */
  issuer?: { certificate: Certificate; privateKey: CryptoKey };
  /** Signing key when self-signed. */
  selfSignKey?: CryptoKey;
  notBefore: Date;
  notAfter: Date;
  dnsNames?: string[];
  ipAddresses?: string[];
  /**
   * Serial number bytes (positive, no leading zero byte: see `randomSerial`); default random. Enrolment derives
   * the serial from its one-time token so the store's unique serial is the token's "used" mark.
   */
  serial?: Uint8Array;
}

export interface IssuedCertificateInfo {
  certificate: Certificate;
  certPem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

function extension(extnID: string, critical: boolean, value: { toSchema(): asn1js.AsnType } | asn1js.AsnType) {
  const schema = 'toSchema' in value && typeof value.toSchema === 'function' ? value.toSchema() : value;
  return new Extension({
    extnID,
    critical,
    extnValue: (schema as asn1js.AsnType).toBER(false),
    parsedValue: value,
  });
}

/** DER BIT STRING for KeyUsage, with the unused trailing bits counted as DER requires. */
function keyUsageBits(bits: number[]): asn1js.BitString {
  let value = 0;
  for (const bit of bits) value |= 0x80 >> bit;
  let unused = 0;
  while (unused < 7 && !(value & (1 << unused))) unused++;
  return new asn1js.BitString({ valueHex: new Uint8Array([value]).buffer, unusedBits: unused });
}

function ipBytes(address: string): Uint8Array {
  if (isIP(address) === 4) return new Uint8Array(address.split('.').map(Number));
  throw new Error(`only IPv4 SANs are supported (got ${address})`);
}

async function keyIdentifier(spki: PublicKeyInfo): Promise<ArrayBuffer> {
  return webcrypto.subtle.digest('SHA-1', spki.subjectPublicKey.valueBlock.valueHexView);
}

function keyIdentifierOf(certificate: Certificate): ArrayBuffer | undefined {
  const ext = certificate.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
  const parsed = ext?.parsedValue as asn1js.OctetString | undefined;
  return parsed?.valueBlock?.valueHexView ? parsed.valueBlock.valueHexView.slice().buffer : undefined;
}

export async function buildCertificate(spec: CertificateRequestSpec): Promise<IssuedCertificateInfo> {
  const cert = new Certificate();
  cert.version = 2;
  const serial = spec.serial ?? randomSerial();
  cert.serialNumber = new asn1js.Integer({ valueHex: serial.buffer as ArrayBuffer });
  cert.subject = buildName(spec.subject);
  cert.issuer = spec.issuer ? spec.issuer.certificate.subject : cert.subject;
  cert.notBefore.value = spec.notBefore;
  cert.notAfter.value = spec.notAfter;
  if ('algorithm' in spec.publicKey && 'type' in spec.publicKey) {
    await cert.subjectPublicKeyInfo.importKey(spec.publicKey as CryptoKey);
  } else {
    cert.subjectPublicKeyInfo = spec.publicKey as PublicKeyInfo;
  }

  const extensions: Extension[] = [];
  const isCa = spec.profile === 'ca';
  extensions.push(
    // RFC 5280 4.2.1.9: pathLenConstraint only with cA TRUE (pkijs writes it whenever the key is present).
    extension(
      OID.basicConstraints,
      true,
      new BasicConstraints(isCa ? { cA: true, pathLenConstraint: 0 } : { cA: false }),
    ),
  );
  // digitalSignature = bit 0, keyCertSign = bit 5, cRLSign = bit 6.
  extensions.push(extension(OID.keyUsage, true, keyUsageBits(isCa ? [5, 6] : [0])));
  if (!isCa) {
    extensions.push(
      extension(
        OID.extKeyUsage,
        false,
        new ExtKeyUsage({ keyPurposes: [spec.profile === 'server' ? OID.serverAuth : OID.clientAuth] }),
      ),
    );
  }
  const altNames = [
    ...(spec.dnsNames ?? []).map((value) => new GeneralName({ type: 2, value })),
    ...(spec.ipAddresses ?? []).map(
      (address) =>
        new GeneralName({
          type: 7,
          value: new asn1js.OctetString({ valueHex: ipBytes(address).buffer as ArrayBuffer }),
        }),
    ),
  ];
  if (altNames.length > 0) {
    extensions.push(extension(OID.subjectAltName, false, new GeneralNames({ names: altNames })));
  }
  const ski = await keyIdentifier(cert.subjectPublicKeyInfo);
  extensions.push(extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: ski })));
  const aki = spec.issuer ? keyIdentifierOf(spec.issuer.certificate) : ski;
  if (aki) {
    extensions.push(
      extension(
        OID.authorityKeyIdentifier,
        false,
        new AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: aki }) }),
      ),
    );
  }
  cert.extensions = extensions;

  const signingKey = spec.issuer?.privateKey ?? spec.selfSignKey;
  if (!signingKey) throw new Error('buildCertificate: an issuer or a self-sign key is required');
  await cert.sign(signingKey, 'SHA-256');
  const der = cert.toSchema(true).toBER(false);
  return {
    certificate: Certificate.fromBER(der),
    certPem: toPem('CERTIFICATE', der),
    serial: serialHex(serial),
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
  };
}

export function parseCertificatePem(pem: string | Buffer): Certificate {
  return Certificate.fromBER(fromPem('CERTIFICATE', pem));
}
