/**
 * Revocation: a set of revoked serials the embedded broker consults at connect time (and uses to disconnect a
 * revoked guest at once), and a signed CRL for mosquitto's `crlfile`.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import * as asn1js from 'asn1js';
import { CertificateRevocationList, Extension, Extensions, RevokedCertificate, Time } from 'pkijs';
import type { CertificateAuthority } from './ca.js';
import { normalizeSerial, OID, serialBytes } from './names.js';
import { toPem } from './pem.js';

const DAY_MS = 24 * 3600 * 1000;
/** How long a CRL we sign is valid; whoever serves it re-issues it at half that (messaging/mosquitto-revocation.ts). */
export const CRL_VALIDITY_DAYS = 7;

export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
}

/** Told of each revocation; `commonName` (when the revoker knew it) lets a broker find the live connection. */
export type RevokeListener = (serial: string, commonName?: string) => void;

export class RevocationList {
  private readonly revoked = new Map<string, Date>();
  private readonly listeners = new Set<RevokeListener>();
  private crlNumber = 1;

  constructor(entries: Iterable<RevokedEntry> = []) {
    for (const entry of entries) this.revoked.set(normalizeSerial(entry.serial), entry.revokedAt);
  }

  /** Revokes a certificate by serial (e.g. when its instance is deleted); notifies listeners (the broker). */
  revoke(serial: string, revokedAt = new Date(), commonName?: string): void {
    const key = normalizeSerial(serial);
    if (this.revoked.has(key)) return;
    this.revoked.set(key, revokedAt);
    this.crlNumber++;
    for (const listener of this.listeners) listener(key, commonName);
  }

  isRevoked(serial: string): boolean {
    return this.revoked.has(normalizeSerial(serial));
  }

  onRevoke(listener: RevokeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  entries(): RevokedEntry[] {
    return [...this.revoked].map(([serial, revokedAt]) => ({ serial, revokedAt }));
  }

  get size(): number {
    return this.revoked.size;
  }

  /** A CRL signed by `ca` listing every revoked serial, valid for `validityDays` (default 7) from `now`. */
  toCrlPem(ca: CertificateAuthority, validityDays = CRL_VALIDITY_DAYS, now = Date.now()): Promise<string> {
    return createCrlPem(ca, this.entries(), { validityDays, crlNumber: this.crlNumber, now });
  }

  async save(file: string): Promise<void> {
    const json = JSON.stringify(
      this.entries().map((e) => ({ serial: e.serial, revokedAt: e.revokedAt.toISOString() })),
    );
    await writeFile(`${file}.tmp`, json, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }

  static async load(file: string): Promise<RevocationList> {
    try {
      const raw = JSON.parse(await readFile(file, 'utf8')) as Array<{ serial: string; revokedAt: string }>;
      return new RevocationList(raw.map((e) => ({ serial: String(e.serial), revokedAt: new Date(e.revokedAt) })));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new RevocationList();
      throw error;
    }
  }
}

export async function createCrlPem(
  ca: CertificateAuthority,
  entries: RevokedEntry[],
  options: { validityDays?: number; crlNumber?: number; now?: number } = {},
): Promise<string> {
  const now = options.now ?? Date.now();
  const crl = new CertificateRevocationList();
  crl.version = 1;
  crl.issuer = ca.certificate.subject;
  crl.thisUpdate = new Time({ type: 0, value: new Date(now - 5 * 60_000) });
  crl.nextUpdate = new Time({ type: 0, value: new Date(now + (options.validityDays ?? CRL_VALIDITY_DAYS) * DAY_MS) });
  if (entries.length > 0) {
    crl.revokedCertificates = entries.map(
      (entry) =>
        new RevokedCertificate({
          userCertificate: new asn1js.Integer({ valueHex: serialBytes(entry.serial).buffer as ArrayBuffer }),
          revocationDate: new Time({ type: 0, value: entry.revokedAt }),
        }),
    );
  }
  const aki = ca.certificate.extensions?.find((e) => e.extnID === OID.authorityKeyIdentifier);
  const number = new asn1js.Integer({ value: options.crlNumber ?? 1 });
  crl.crlExtensions = new Extensions({
    extensions: [
      ...(aki ? [aki] : []),
      new Extension({ extnID: OID.crlNumber, critical: false, extnValue: number.toBER(false), parsedValue: number }),
    ],
  });
  await crl.sign(ca.privateKey, 'SHA-256');
  return toPem('X509 CRL', crl.toSchema(true).toBER(false));
}

/** When a PEM CRL stops being valid (its nextUpdate), e.g. for `corral doctor`. */
export function crlNextUpdate(pem: string): Date | undefined {
  const base64 = pem.replace(/-----(BEGIN|END) X509 CRL-----/g, '').replace(/\s+/g, '');
  const asn1 = asn1js.fromBER(Buffer.from(base64, 'base64'));
  if (asn1.offset === -1) throw new Error('not a DER CRL');
  return new CertificateRevocationList({ schema: asn1.result }).nextUpdate?.value;
}
