import { X509Certificate } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadOrCreateCa } from '@corral/core';
import { type OutputOptions, printResult } from '../output.js';

/** `corral pki init`: makes the CA in <dir> once (or loads it); prints where it is and its fingerprint, never the key. */
export async function pkiInit(dir: string, output: OutputOptions): Promise<void> {
  const certificate = resolve(join(dir, 'ca.pem'));
  const existed = await access(certificate).then(
    () => true,
    () => false,
  );
  const ca = await loadOrCreateCa(dir);
  const x509 = new X509Certificate(ca.certPem);
  const result = {
    created: !existed,
    certificate,
    key: resolve(join(dir, 'ca-key.pem')),
    subject: ca.commonName,
    fingerprintSha256: x509.fingerprint256,
    notAfter: new Date(x509.validTo).toISOString(),
  };
  printResult(output, result, () =>
    [
      `${existed ? 'CA already present' : 'CA created'}: ${result.certificate}`,
      `subject:     ${result.subject}`,
      `SHA-256:     ${result.fingerprintSha256}`,
      `valid until: ${result.notAfter}`,
      `key:         ${result.key} (mode 0600; keep it secret)`,
    ].join('\n'),
  );
}
