import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import type { CertificateAuthority } from '../pki/ca.js';
import { serialHex } from '../pki/names.js';
import { fromPem } from '../pki/pem.js';
import { EnrolmentError } from './errors.js';

/**
 * One-time enrolment tokens, stateless: `cet1.<claims>.<mac>`, where the claims (base64url JSON) bind a random
 * token id to one instance id, one guest id and an expiry, and the mac is HMAC-SHA256 over them with a key
 * derived (HKDF) from the CA's private key.
 *
 * Why stateless, and why the CA key: nothing token-shaped is ever written to the store, so a dump of the store
 * (or of its backups) holds no usable token, and no migration of the three stores is needed; every control-plane
 * process that can sign guest certificates already holds the CA key, so all of them derive the same MAC key
 * without a second secret to distribute. Rotating the CA voids outstanding tokens, which is what one wants.
 *
 * Single use: the certificate a token buys gets a serial derived from the token id (HMAC with a second derived
 * key, so it is unpredictable without the CA key). The store's guest-certificate record, whose serial is unique
 * in all three stores (the conformance suite checks it, concurrent puts included), is the token's "used" mark:
 * the first enrolment claims the serial, any later one with the same token hits StoreConflictError.
 */

const TOKEN_PREFIX = 'cet1';

const ClaimsSchema = z.strictObject({
  /** Random token id (base64url, 16 bytes): names the certificate's serial. */
  n: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  i: z.string().min(1).max(128),
  g: z.string().min(1).max(128),
  /** Expiry, ms since the epoch. */
  e: z.number().int().positive(),
});

export interface EnrolmentTokenClaims {
  tokenId: string;
  instanceId: string;
  guestId: string;
  expiresAt: number;
}

export interface IssuedEnrolmentToken {
  /** The secret: goes into the guest's bootstrap and nowhere else (never logged, never stored). */
  token: string;
  claims: EnrolmentTokenClaims;
  /** The serial (hex) the certificate enrolled with this token will carry. */
  serial: string;
}

export class EnrolmentTokens {
  private readonly macKey: Buffer;
  private readonly serialKey: Buffer;

  /** `secret`: at least 32 bytes of key material; see `fromCa` for the usual source. */
  constructor(secret: Uint8Array) {
    if (secret.byteLength < 32) throw new Error('EnrolmentTokens: the secret must be at least 32 bytes');
    this.macKey = Buffer.from(hkdfSync('sha256', secret, 'corral-enrolment', 'token-mac-v1', 32));
    this.serialKey = Buffer.from(hkdfSync('sha256', secret, 'corral-enrolment', 'certificate-serial-v1', 32));
  }

  /** Keys derived from the CA's private key (PKCS#8 DER), the same in every process that holds the CA. */
  static fromCa(ca: Pick<CertificateAuthority, 'keyPem'>): EnrolmentTokens {
    return new EnrolmentTokens(new Uint8Array(fromPem('PRIVATE KEY', ca.keyPem)));
  }

  issue(options: { instanceId: string; guestId: string; ttlMs: number; now?: number }): IssuedEnrolmentToken {
    if (!(options.ttlMs > 0)) throw new Error('EnrolmentTokens.issue: ttlMs must be positive');
    const claims: EnrolmentTokenClaims = {
      tokenId: randomBytes(16).toString('base64url'),
      instanceId: options.instanceId,
      guestId: options.guestId,
      expiresAt: Math.floor((options.now ?? Date.now()) + options.ttlMs),
    };
    const body = Buffer.from(
      JSON.stringify({ n: claims.tokenId, i: claims.instanceId, g: claims.guestId, e: claims.expiresAt }),
    ).toString('base64url');
    const signed = `${TOKEN_PREFIX}.${body}`;
    return { token: `${signed}.${this.mac(signed)}`, claims, serial: serialHex(this.serialBytes(claims.tokenId)) };
  }

  /**
   * The claims of a genuine, unexpired token. TOKEN_INVALID for anything not made with this key (the mac is
   * checked before the claims are even parsed, in constant time), TOKEN_EXPIRED past its expiry.
   */
  verify(token: string, now = Date.now()): EnrolmentTokenClaims {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX) {
      throw new EnrolmentError('TOKEN_INVALID', 'token: not an enrolment token');
    }
    const signed = `${parts[0]}.${parts[1]}`;
    const expected = Buffer.from(this.mac(signed), 'base64url');
    const given = Buffer.from(parts[2] ?? '', 'base64url');
    if (given.byteLength !== expected.byteLength || !timingSafeEqual(given, expected)) {
      throw new EnrolmentError('TOKEN_INVALID', 'token: not issued by this control plane');
    }
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8'));
    } catch {
      raw = undefined;
    }
    const parsed = ClaimsSchema.safeParse(raw);
    if (!parsed.success) throw new EnrolmentError('TOKEN_INVALID', 'token: claims unreadable');
    const claims = {
      tokenId: parsed.data.n,
      instanceId: parsed.data.i,
      guestId: parsed.data.g,
      expiresAt: parsed.data.e,
    };
    if (claims.expiresAt <= now) {
      throw new EnrolmentError('TOKEN_EXPIRED', `token: expired at ${new Date(claims.expiresAt).toISOString()}`);
    }
    return claims;
  }

  /** Serial number bytes for the certificate a token id buys: positive, 16 bytes, like `randomSerial`. */
  serialBytes(tokenId: string): Uint8Array {
    const bytes = createHmac('sha256', this.serialKey).update(tokenId).digest().subarray(0, 16);
    bytes[0] = ((bytes[0] ?? 0) % 0x7f) + 1;
    return new Uint8Array(bytes);
  }

  private mac(signed: string): string {
    return createHmac('sha256', this.macKey).update(signed).digest('base64url');
  }
}
