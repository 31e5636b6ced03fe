import { webcrypto } from 'node:crypto';
import { CertificationRequest } from 'pkijs';
import { buildName } from '../pki/names.js';
import { toPem } from '../pki/pem.js';

/**
 * For suites that check refusals (exported from `@corral/core/testing`): a correctly self-signed CSR for a key
 * the enrolment endpoint must refuse (RSA-2048 or ECDSA P-384), asking for a subject of its choosing.
 */
export async function createForeignKeyCsr(kind: 'rsa-2048' | 'p-384', commonName = 'service.admin'): Promise<string> {
  const algorithm =
    kind === 'rsa-2048'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: 'P-384' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = new CertificationRequest();
  csr.subject = buildName({ commonName });
  await csr.subjectPublicKeyInfo.importKey(keys.publicKey);
  await csr.sign(keys.privateKey, 'SHA-256');
  return toPem('CERTIFICATE REQUEST', csr.toSchema().toBER(false));
}
