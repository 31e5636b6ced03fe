import type { Logger } from 'pino';
import type { CertificateAuthority } from '../pki/ca.js';
import type { RevocationList } from '../pki/crl.js';
import { InvalidCsrError, verifyCsr } from '../pki/csr.js';
import { BACKDATE_MS, signGuestCsr } from '../pki/issue.js';
import { normalizeSerial } from '../pki/names.js';
import { describeIssues } from '../provider/validate.js';
import { StoreConflictError } from '../store/errors.js';
import type { Store } from '../store/types.js';
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

    const serialBytes = tokens.serialBytes(claims.tokenId);
    const serial = normalizeSerial(Buffer.from(serialBytes).toString('hex'));
    if ((await store.getGuestCertificate(serial)) !== undefined) {
      throw new EnrolmentError('TOKEN_USED', 'token: already used');
    }
    // One enrolled identity per guest: a second token (e.g. one minted by a worker that died) cannot add another.
    const live = await store.listGuestCertificates({ guestId: claims.guestId, revoked: false });
    if (live.length > 0)
      throw new EnrolmentError('ALREADY_ENROLLED', `guest ${claims.guestId} already has a certificate`);
    try {
      await verifyCsr(request.csrPem);
    } catch (error) {
      if (!(error instanceof InvalidCsrError)) throw error;
      throw new EnrolmentError(error.reason === 'key-type' ? 'CSR_KEY_UNSUPPORTED' : 'CSR_INVALID', error.message);
    }

    const notBefore = new Date(now - BACKDATE_MS);
    const notAfter = new Date(now + (this.options.guestCertificateDays ?? 7) * DAY_MS);
    // Claim the serial first: the store's unique serial makes this the one enrolment this token gets.
    try {
      await store.putGuestCertificate({
        serial,
        guestId: claims.guestId,
        instanceId: claims.instanceId,
        issuedAt: now,
        notAfter: notAfter.getTime(),
      });
    } catch (error) {
      if (error instanceof StoreConflictError) throw new EnrolmentError('TOKEN_USED', 'token: already used');
      throw error;
    }
    let certPem: string;
    try {
      const issued = await signGuestCsr(this.options.ca, request.csrPem, {
        guestId: claims.guestId,
        serial: serialBytes,
        notBefore,
        notAfter,
      });
      if (normalizeSerial(issued.serial) !== serial) throw new Error('signed certificate has another serial');
      certPem = issued.certPem;
    } catch (error) {
      await this.revoke(serial, 'enrolment failed before the certificate was delivered');
      throw error;
    }
    // A delete may have listed the guest's certificates between our check and our claim: look again, and
    // revoke our own certificate when the instance is on its way out (its task status turns DELETING first).
    const after = await store.findInstance(claims.instanceId, { includeDeleted: true });
    if (after === undefined || isGone(after)) {
      await this.revoke(serial, 'instance deleted during enrolment');
      throw new EnrolmentError('INSTANCE_DELETED', `instance ${claims.instanceId} is deleted`);
    }
    this.options.logger?.info(
      { instanceId: claims.instanceId, guestId: claims.guestId, serial },
      'guest enrolled: certificate issued for its CSR',
    );
    return { certPem, serial, instanceId: claims.instanceId, guestId: claims.guestId, notAfter };
  }

  private async revoke(serial: string, reason: string): Promise<void> {
    await this.options.store.revokeGuestCertificate(serial, reason);
    this.options.revocations?.revoke(serial);
  }
}

function isGone(instance: { deletedAt: number | null; taskStatus: string }): boolean {
  return instance.deletedAt !== null || instance.taskStatus === 'DELETING';
}
