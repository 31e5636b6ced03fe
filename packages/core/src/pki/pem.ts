/** PEM armour for DER blobs (certificates, keys, CSRs, CRLs). */

export type PemLabel = 'CERTIFICATE' | 'PRIVATE KEY' | 'CERTIFICATE REQUEST' | 'X509 CRL';

export function toPem(label: PemLabel, der: ArrayBuffer | Uint8Array): string {
  const base64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER bytes of the first block with `label`; throws a clear error when there is none. */
export function fromPem(label: PemLabel, pem: string | Buffer): ArrayBuffer {
  const text = typeof pem === 'string' ? pem : pem.toString('utf8');
  const match = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text);
  if (!match?.[1]) throw new Error(`no PEM block "${label}" found`);
  const der = Buffer.from(match[1].replace(/\s+/g, ''), 'base64');
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}
