import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { PublicKeyInfo } from 'pkijs';
import type { CertificateAuthority } from '../pki/ca.js';
import type { RevocationList } from '../pki/crl.js';
import { InvalidCsrError, verifyCsr } from '../pki/csr.js';
import { BACKDATE_MS, signGuestCsr } from '../pki/issue.js';
import { normalizeSerial } from '../pki/names.js';
import { describeIssues } from '../provider/validate.js';
import { StoreConflictError } from '../store/errors.js';
import type { GuestCertificate, Store } from '../store/types.js';
import { EnrolmentError } from './errors.js';
import { EnrolmentRequestSchema } from './schema.js';
import type { EnrolmentTokens } from './tokens.js';

const DAY_MS = 24 * 3600 * 1000;

export interface EnrolmentServiceOptions {
  store: Store;
  ca: CertificateAuthority;
  tokens: EnrolmentTokens;
  /** The in-process broker's list: a certificate revoked here (instance deleted meanwhile) is refused at once. */
  revocations?: RevocationList;
  /** Validity of enrolled certificates (default 7 days, as issued ones). */
  guestCertificateDays?: number;
  clock?: () => number;
  logger?: Logger;
}

export interface Enrolled {
  certPem: string;
  serial: string;
  instanceId: string;
  guestId: string;
  notAfter: Date;
}

/**
 * The control-plane side of enrolment, apart from HTTP: checks a request, signs the guest's CSR and records
 * the certificate where `revokeAll` (instance delete) and the CRL find it. Checks run cheapest first (shape,
 * token mac, binding, store lookups) so a stranger costs one HMAC, not a signature check; the token is used up
 * only by a request that is otherwise good, so a guest whose first attempt carried a damaged CSR can retry.
 * Enrolment is idempotent per (token, public key): the record keeps the key's SPKI sha256, so a guest whose
 * reply was lost sends the same key again and gets its certificate again; another key with that token cannot.
 */
export class EnrolmentService {
  private readonly clock: () => number;

  constructor(private readonly options: EnrolmentServiceOptions) {
    this.clock = options.clock ?? Date.now;
  }

  async enrol(input: unknown): Promise<Enrolled> {
    const parsed = EnrolmentRequestSchema.safeParse(input);
    if (!parsed.success) {
      throw new EnrolmentError('BODY_INVALID', `invalid enrolment request: ${describeIssues(parsed.error)}`);
    }
    const request = parsed.data;
    const { store, tokens } = this.options;
    const now = this.clock();
    const claims = tokens.verify(request.token, now);
    if (claims.instanceId !== request.instanceId || claims.guestId !== request.guestId) {
      throw new EnrolmentError('TOKEN_MISMATCH', 'token: issued for another instance or guest');
    }
    const instance = await store.findInstance(claims.instanceId, { includeDeleted: true });
    if (instance === undefined) {
      throw new EnrolmentError('INSTANCE_NOT_FOUND', `instance ${claims.instanceId} does not exist`);
    }
    if (instance.guestId !== claims.guestId) {
      throw new EnrolmentError('TOKEN_MISMATCH', `token: guest ${claims.guestId} is not instance ${instance.id}'s`);
    }
    if (isGone(instance)) throw new EnrolmentError('INSTANCE_DELETED', `instance ${instance.id} is deleted`);

    // The CSR before the serial: a retry is recognised by its public key (see `again`).
    let publicKeySha256: string;
    try {
      publicKeySha256 = fingerprint(await verifyCsr(request.csrPem));
    } catch (error) {
      if (!(error instanceof InvalidCsrError)) throw error;
      throw new EnrolmentError(error.reason === 'key-type' ? 'CSR_KEY_UNSUPPORTED' : 'CSR_INVALID', error.message);
    }
    const serialBytes = tokens.serialBytes(claims.tokenId);
    const serial = normalizeSerial(Buffer.from(serialBytes).toString('hex'));
    const used = await store.getGuestCertificate(serial);
    if (used !== undefined) return this.again(used, request.csrPem, publicKeySha256, serialBytes);
    // One enrolled identity per guest: a second token (e.g. one minted by a worker that died) cannot add another.
    const live = await store.listGuestCertificates({ guestId: claims.guestId, revoked: false });
    if (live.length > 0)
      throw new EnrolmentError('ALREADY_ENROLLED', `guest ${claims.guestId} already has a certificate`);

    const notAfter = new Date(now + (this.options.guestCertificateDays ?? 7) * DAY_MS);
    // Claim the serial first: the store's unique serial makes this the one enrolment this token gets.
    try {
      await store.putGuestCertificate({
        serial,
        guestId: claims.guestId,
        instanceId: claims.instanceId,
        issuedAt: now,
        notAfter: notAfter.getTime(),
        publicKeySha256,
      });
    } catch (error) {
      if (!(error instanceof StoreConflictError)) throw error;
      // A twin of this request (same token) won the claim: the same key gets the same certificate.
      const winner = await store.getGuestCertificate(serial);
      if (winner === undefined) throw new EnrolmentError('TOKEN_USED', 'token: already used');
      return this.again(winner, request.csrPem, publicKeySha256, serialBytes);
    }
    // Two different valid tokens of one guest used at once can both pass the check above: look again after the
    // claim, and give way when another live certificate exists (the guest keeps at most one identity).
    const rivals = await store.listGuestCertificates({ guestId: claims.guestId, revoked: false });
    if (rivals.some((c) => c.serial.toLowerCase() !== serial.toLowerCase())) {
      await this.revokeQuietly(serial, 'another enrolment of this guest won a race');
      throw new EnrolmentError('ALREADY_ENROLLED', `guest ${claims.guestId} already has a certificate`);
    }
    return this.sign(request.csrPem, {
      serial,
      serialBytes,
      guestId: claims.guestId,
      instanceId: claims.instanceId,
      issuedAt: now,
      notAfter,
      revokeOnFailure: true,
    });
  }

  /**
   * A token that comes back: the guest's reply was lost (timeout, reset, the agent killed before it wrote its
   * identity). The same public key with an unrevoked record gets a freshly signed certificate with the same
   * serial and validity; anything else (another key, a revoked record) is refused as a used token.
   */
  private async again(
    record: GuestCertificate,
    csrPem: string,
    publicKeySha256: string,
    serialBytes: Uint8Array,
  ): Promise<Enrolled> {
    if (record.revoked || record.publicKeySha256 !== publicKeySha256 || record.instanceId === null) {
      throw new EnrolmentError('TOKEN_USED', 'token: already used');
    }
    this.options.logger?.info(
      { instanceId: record.instanceId, guestId: record.guestId, serial: record.serial },
      'enrolment retried with the same key: certificate issued again',
    );
    return this.sign(csrPem, {
      serial: normalizeSerial(record.serial),
      serialBytes,
      guestId: record.guestId,
      instanceId: record.instanceId,
      issuedAt: record.issuedAt,
      notAfter: new Date(record.notAfter),
      revokeOnFailure: false,
    });
  }

  private async sign(
    csrPem: string,
    cert: {
      serial: string;
      serialBytes: Uint8Array;
      guestId: string;
      instanceId: string;
      issuedAt: number;
      notAfter: Date;
      /** Only the first issue revokes on failure: a retry's record already has a delivered-or-not twin. */
      revokeOnFailure: boolean;
    },
  ): Promise<Enrolled> {
    const { serial, guestId, instanceId, notAfter } = cert;
    let certPem: string;
    try {
      const issued = await signGuestCsr(this.options.ca, csrPem, {
        guestId,
        serial: cert.serialBytes,
        notBefore: new Date(cert.issuedAt - BACKDATE_MS),
        notAfter,
      });
      if (normalizeSerial(issued.serial) !== serial) throw new Error('signed certificate has another serial');
      certPem = issued.certPem;
    } catch (error) {
      if (cert.revokeOnFailure) {
        await this.revokeQuietly(serial, 'enrolment failed before the certificate was delivered');
      }
      throw error;
    }
    // A delete may have listed the guest's certificates between our check and our claim: look again, and
    // revoke our own certificate when the instance is on its way out (its task status turns DELETING first).
    const after = await this.options.store.findInstance(instanceId, { includeDeleted: true });
    if (after === undefined || isGone(after)) {
      await this.revokeQuietly(serial, 'instance deleted during enrolment');
      throw new EnrolmentError('INSTANCE_DELETED', `instance ${instanceId} is deleted`);
    }
    this.options.logger?.info({ instanceId, guestId, serial }, 'guest enrolled: certificate issued for its CSR');
    return { certPem, serial, instanceId, guestId, notAfter };
  }

  /** Revokes without hiding the error being answered: a store failure here is logged, not thrown. */
  private async revokeQuietly(serial: string, reason: string): Promise<void> {
    try {
      await this.revoke(serial, reason);
    } catch (error) {
      this.options.logger?.error(
        { serial, err: error },
        'enrolment: could not revoke a certificate; revoke it by hand',
      );
    }
  }

  private async revoke(serial: string, reason: string): Promise<void> {
    await this.options.store.revokeGuestCertificate(serial, reason);
    this.options.revocations?.revoke(serial);
  }
}

/** sha256 (hex) of the DER SubjectPublicKeyInfo: the key's fingerprint, whatever the CSR around it. */
function fingerprint(spki: PublicKeyInfo): string {
  return createHash('sha256')
    .update(Buffer.from(spki.toSchema().toBER(false)))
    .digest('hex');
}

function isGone(instance: { deletedAt: number | null; taskStatus: string }): boolean {
  return instance.deletedAt !== null || instance.taskStatus === 'DELETING';
}
