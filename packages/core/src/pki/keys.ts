/** ECDSA P-256 keys through node's WebCrypto. Private keys leave this module only as PEM strings; never log them. */
import { webcrypto } from 'node:crypto';
import { fromPem, toPem } from './pem.js';

/** Node's WebCrypto types (the project compiles without the DOM lib). */
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

/** Imports a PKCS#8 P-256 key (`-----BEGIN PRIVATE KEY-----`). */
export async function importPrivateKeyPem(pem: string | Buffer): Promise<CryptoKey> {
  return (await webcrypto.subtle.importKey('pkcs8', fromPem('PRIVATE KEY', pem), EC_ALGORITHM, true, [
    'sign',
  ])) as CryptoKey;
}
