/**
 * Certificate signing requests. The guest makes its key and a CSR (the private key never leaves it); the
 * control plane verifies the CSR's signature and takes only its public key.
 */
import type * as asn1js from 'asn1js';
import { CertificationRequest, type PublicKeyInfo } from 'pkijs';
import { exportPrivateKeyPem, generateKeyPair } from './keys.js';
import { buildName, OID } from './names.js';
import { fromPem, toPem } from './pem.js';

/** Why a CSR was refused: not a request at all, a key type other than P-256, or a signature that fails. */
export type InvalidCsrReason = 'malformed' | 'key-type' | 'signature';

export class InvalidCsrError extends Error {
  readonly code = 'INVALID_CSR' as const;
  readonly reason: InvalidCsrReason;
  constructor(message: string, options: { cause?: unknown; reason?: InvalidCsrReason } = {}) {
    super(message, options);
    this.name = 'InvalidCsrError';
    this.reason = options.reason ?? 'malformed';
  }
}

/** Guest side: a fresh P-256 key and a CSR signed with it. Keep `keyPem` on the guest (mode 0600). */
export async function createKeyAndCsr(options: { commonName: string }): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await generateKeyPair();
  const csr = new CertificationRequest();
  csr.version = 0;
  csr.subject = buildName({ commonName: options.commonName });
  await csr.subjectPublicKeyInfo.importKey(keys.publicKey);
  await csr.sign(keys.privateKey, 'SHA-256');
  return {
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    csrPem: toPem('CERTIFICATE REQUEST', csr.toSchema().toBER(false)),
  };
}

/** Parses and verifies a CSR; returns its public key info (P-256 only). Throws InvalidCsrError. */
export async function verifyCsr(csrPem: string | Buffer): Promise<PublicKeyInfo> {
  let csr: CertificationRequest;
  try {
    csr = CertificationRequest.fromBER(fromPem('CERTIFICATE REQUEST', csrPem));
  } catch (error) {
    throw new InvalidCsrError('csr: not a PEM-encoded PKCS#10 request', { cause: error });
  }
  const spki = csr.subjectPublicKeyInfo;
  const curve = spki.algorithm.algorithmParams as asn1js.ObjectIdentifier | undefined;
  if (spki.algorithm.algorithmId !== OID.ecPublicKey || curve?.valueBlock?.toString() !== OID.prime256v1) {
    throw new InvalidCsrError('csr: the public key must be ECDSA P-256', { reason: 'key-type' });
  }
  // A P-256 public key is one uncompressed point: 0x04 then 32 bytes of x and 32 of y.
  const point = spki.subjectPublicKey.valueBlock.valueHexView;
  if (point.byteLength !== 65 || point[0] !== 0x04) {
    throw new InvalidCsrError('csr: the P-256 public key must be an uncompressed 65-byte point', {
      reason: 'key-type',
    });
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch (error) {
    throw new InvalidCsrError('csr: signature could not be verified', { cause: error, reason: 'signature' });
  }
  if (!valid) throw new InvalidCsrError('csr: signature does not match its public key', { reason: 'signature' });
  return spki;
}
