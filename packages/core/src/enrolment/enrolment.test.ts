import { createPrivateKey, X509Certificate } from 'node:crypto';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCa } from '../pki/ca.js';
import { RevocationList } from '../pki/crl.js';
import { createKeyAndCsr } from '../pki/csr.js';
import { createMemoryStore } from '../store/memory.js';
import type { Store } from '../store/types.js';
import { EnrolmentError, type EnrolmentRefusalCode } from './errors.js';
import { agentBrokerIdentity, grantEnrolment, isEnrolmentGrant } from './identity.js';
import { SourceRateLimiter } from './rate-limit.js';
import { EnrolmentRequestSchema } from './schema.js';
import { EnrolmentService } from './service.js';
import { createForeignKeyCsr } from './testing.js';
import { EnrolmentTokens } from './tokens.js';

let ca: CertificateAuthority;
let tokens: EnrolmentTokens;
beforeAll(async () => {
  ca = await createCa({ commonName: 'enrolment unit CA' });
  tokens = EnrolmentTokens.fromCa(ca);
});

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<EnrolmentRefusalCode> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(EnrolmentError);
    return (error as EnrolmentError).code;
  }
  throw new Error('expected a refusal, got success');
}

describe('enrolment tokens', () => {
  it('verify what they issued, bound to instance, guest and expiry', () => {
    const issued = tokens.issue({ instanceId: 'i-1', guestId: 'g-1', ttlMs: 60_000, now: 1_000 });
    expect(issued.token).toMatch(/^cet1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(tokens.verify(issued.token, 2_000)).toEqual(issued.claims);
    expect(issued.claims).toMatchObject({ instanceId: 'i-1', guestId: 'g-1', expiresAt: 61_000 });
    // Two tokens for the same instance differ, and so do the serials they buy.
    const again = tokens.issue({ instanceId: 'i-1', guestId: 'g-1', ttlMs: 60_000, now: 1_000 });
    expect(again.token).not.toBe(issued.token);
    expect(again.serial).not.toBe(issued.serial);
  });

  it('expire', async () => {
    const issued = tokens.issue({ instanceId: 'i-1', guestId: 'g-1', ttlMs: 10, now: 1_000 });
    expect(await refusal(() => tokens.verify(issued.token, 1_010))).toBe('TOKEN_EXPIRED');
  });

  it('refuse tampering, other keys and garbage', async () => {
    const issued = tokens.issue({ instanceId: 'i-1', guestId: 'g-1', ttlMs: 60_000 });
    const [prefix, claims, mac] = issued.token.split('.') as [string, string, string];
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(claims, 'base64url').toString()), i: 'i-2' }),
    ).toString('base64url');
    const other = EnrolmentTokens.fromCa(await createCa()).issue({ instanceId: 'i-1', guestId: 'g-1', ttlMs: 60_000 });
    const extended = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(claims, 'base64url').toString()), e: Date.now() + 1e9 }),
    ).toString('base64url');
    for (const bad of [
      `${prefix}.${forged}.${mac}`,
      `${prefix}.${extended}.${mac}`,
      `${prefix}.${claims}.${mac.slice(0, -2)}`,
      `${prefix}.${claims}`,
      `cet2.${claims}.${mac}`,
      other.token,
      'x'.repeat(40),
      '',
    ]) {
      expect(await refusal(() => tokens.verify(bad))).toBe('TOKEN_INVALID');
    }
  });

  it('derive the same keys from the same CA in every process, and need a real secret', async () => {
    const copy = EnrolmentTokens.fromCa({ keyPem: ca.keyPem });
    const issued = tokens.issue({ instanceId: 'i-1', guestId: 'g-1', ttlMs: 60_000 });
    expect(copy.verify(issued.token).tokenId).toBe(issued.claims.tokenId);
    expect(Buffer.from(copy.serialBytes(issued.claims.tokenId)).toString('hex').toUpperCase()).toContain(issued.serial);
    expect(() => new EnrolmentTokens(new Uint8Array(8))).toThrow(/32 bytes/);
  });
});

describe('enrolment request body', () => {
  const good = { guestId: 'g-1', instanceId: 'i-1', token: 'cet1.abcdefgh.ijklmnop', csrPem: '' };
  beforeAll(async () => {
    good.csrPem = (await createKeyAndCsr({ commonName: 'g-1' })).csrPem;
  });

  it('accepts what the agent sends', () => {
    expect(EnrolmentRequestSchema.safeParse(good).success).toBe(true);
  });

  it.each([
    ['guestId', { guestId: 'a/b' }],
    ['guestId', { guestId: undefined }],
    ['instanceId', { instanceId: '' }],
    ['token', { token: 'short' }],
    ['token', { token: 'has spaces in it, and more' }],
    ['token', { token: 'x'.repeat(1025) }],
    ['csrPem', { csrPem: 'not a csr at all' }],
    [
      'csrPem',
      { csrPem: `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(9000)}\n-----END CERTIFICATE REQUEST-----` },
    ],
    ['csrPem', { csrPem: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----' }],
    ['extra', { extra: 1 }],
  ])('refuses a bad %s', (field, change) => {
    const result = EnrolmentRequestSchema.safeParse({ ...good, ...change });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.flatMap((issue) => [...issue.path, ...('keys' in issue ? issue.keys : [])]);
    expect(paths).toContain(field);
  });
});

describe('enrolment service', () => {
  let store: Store;
  let revocations: RevocationList;
  let service: EnrolmentService;
  let csrPem: string;
  let keyPem: string;

  beforeEach(async () => {
    store = createMemoryStore();
    revocations = new RevocationList();
    service = new EnrolmentService({ store, ca, tokens, revocations });
    for (const id of ['inst-a', 'inst-b']) {
      await store.createInstance({
        id,
        name: id,
        projectId: 'p',
        provider: 'fake',
        flavor: 'small',
        image: 'img',
        datastore: { type: 'redis', version: '7' },
      });
    }
    ({ csrPem, keyPem } = await createKeyAndCsr({ commonName: 'service.evil' }));
  });

  const grant = (instanceId: string) =>
    grantEnrolment(
      { store, tokens, caPem: ca.certPem, options: { guestUrl: 'https://10.0.2.2:1/v1/enrol' }, buildMs: 60_000 },
      instanceId,
    );

  it('signs the CSR for the guest id only, records the certificate under the granted serial, once', async () => {
    const granted = await grant('inst-a');
    expect(isEnrolmentGrant(granted)).toBe(true);
    expect(granted.keyPem).toBe('');
    expect(agentBrokerIdentity(granted)).toEqual({
      caPem: ca.certPem,
      enrolment: { url: 'https://10.0.2.2:1/v1/enrol', token: granted.enrolment.token, timeoutSeconds: 60 },
    });
    const body = { guestId: 'inst-a', instanceId: 'inst-a', token: granted.enrolment.token, csrPem };
    const enrolled = await service.enrol(body);
    const x509 = new X509Certificate(enrolled.certPem);
    expect(x509.subject).toContain('CN=inst-a');
    expect(x509.subject).not.toContain('evil');
    expect(x509.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(x509.serialNumber.replace(/^0+/, '')).toBe(granted.serial);
    const records = await store.listGuestCertificates({ guestId: 'inst-a' });
    expect(records).toMatchObject([{ serial: granted.serial.toLowerCase(), instanceId: 'inst-a', revoked: false }]);
    expect(records[0]?.publicKeySha256).toMatch(/^[0-9a-f]{64}$/);
    // The reply was lost: the same token with the same key gets the certificate again (same serial and
    // validity, freshly signed); with another key the token is used.
    const again = await service.enrol(body);
    expect(again.serial).toBe(enrolled.serial);
    expect(again.notAfter).toEqual(enrolled.notAfter);
    const x509again = new X509Certificate(again.certPem);
    expect(x509again.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(x509again.validTo).toBe(x509.validTo);
    const other = await createKeyAndCsr({ commonName: 'inst-a' });
    expect(await refusal(service.enrol({ ...body, csrPem: other.csrPem }))).toBe('TOKEN_USED');
    expect(await store.listGuestCertificates()).toHaveLength(1);
    // A revoked record is not handed out again, even to its own key.
    await store.revokeGuestCertificate(enrolled.serial, 'test');
    expect(await refusal(service.enrol(body))).toBe('TOKEN_USED');
  });

  it('lets exactly one key of several concurrent uses of a token through; the same key is answered alike', async () => {
    const granted = await grant('inst-a');
    const keys = await Promise.all([1, 2, 3].map(() => createKeyAndCsr({ commonName: 'inst-a' })));
    const body = { guestId: 'inst-a', instanceId: 'inst-a', token: granted.enrolment.token };
    const results = await Promise.allSettled(keys.map((k) => service.enrol({ ...body, csrPem: k.csrPem })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect((await store.listGuestCertificates()).length).toBe(1);

    const twin = await grant('inst-b');
    const same = { guestId: 'inst-b', instanceId: 'inst-b', token: twin.enrolment.token, csrPem };
    const twins = await Promise.all([service.enrol(same), service.enrol(same), service.enrol(same)]);
    expect(new Set(twins.map((t) => t.serial)).size).toBe(1);
    expect(await store.listGuestCertificates({ guestId: 'inst-b' })).toHaveLength(1);
  });

  it('keeps one identity when two different tokens of one guest race', async () => {
    const [first, second] = [await grant('inst-a'), await grant('inst-a')];
    const body = { guestId: 'inst-a', instanceId: 'inst-a', csrPem };
    const results = await Promise.allSettled([
      service.enrol({ ...body, token: first.enrolment.token }),
      service.enrol({ ...body, token: second.enrolment.token }),
    ]);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as EnrolmentError).code).toBe('ALREADY_ENROLLED');
    }
    const live = await store.listGuestCertificates({ guestId: 'inst-a', revoked: false });
    expect(live.length).toBe(results.filter((r) => r.status === 'fulfilled').length);
    expect(live.length).toBeLessThanOrEqual(1);
  });

  it('refuses another instance’s token, unknown and deleted instances, a second identity', async () => {
    const forB = await grant('inst-b');
    expect(
      await refusal(service.enrol({ guestId: 'inst-a', instanceId: 'inst-a', token: forB.enrolment.token, csrPem })),
    ).toBe('TOKEN_MISMATCH');
    const ghost = tokens.issue({ instanceId: 'ghost', guestId: 'ghost', ttlMs: 60_000 });
    expect(await refusal(service.enrol({ guestId: 'ghost', instanceId: 'ghost', token: ghost.token, csrPem }))).toBe(
      'INSTANCE_NOT_FOUND',
    );
    await store.updateInstance('inst-b', { taskStatus: 'DELETING' });
    expect(
      await refusal(service.enrol({ guestId: 'inst-b', instanceId: 'inst-b', token: forB.enrolment.token, csrPem })),
    ).toBe('INSTANCE_DELETED');
    const first = await grant('inst-a');
    const second = await grant('inst-a');
    await service.enrol({ guestId: 'inst-a', instanceId: 'inst-a', token: first.enrolment.token, csrPem });
    expect(
      await refusal(service.enrol({ guestId: 'inst-a', instanceId: 'inst-a', token: second.enrolment.token, csrPem })),
    ).toBe('ALREADY_ENROLLED');
  });

  it('refuses other key types and broken CSRs without using the token up', async () => {
    const granted = await grant('inst-a');
    const body = { guestId: 'inst-a', instanceId: 'inst-a', token: granted.enrolment.token };
    expect(await refusal(service.enrol({ ...body, csrPem: await createForeignKeyCsr('rsa-2048') }))).toBe(
      'CSR_KEY_UNSUPPORTED',
    );
    expect(await refusal(service.enrol({ ...body, csrPem: await createForeignKeyCsr('p-384') }))).toBe(
      'CSR_KEY_UNSUPPORTED',
    );
    const broken = csrPem.replace(/[A-Za-z](?=[A-Za-z0-9+/=\s]*-----END)/, (c) => (c === 'A' ? 'B' : 'A'));
    expect(await refusal(service.enrol({ ...body, csrPem: broken }))).toBe('CSR_INVALID');
    expect(await refusal(service.enrol({ ...body, csrPem: 'nope' }))).toBe('BODY_INVALID');
    expect(await store.listGuestCertificates()).toHaveLength(0);
    expect((await service.enrol({ ...body, csrPem })).guestId).toBe('inst-a');
  });

  it('revokes its own certificate when the instance turned DELETING while it signed', async () => {
    const granted = await grant('inst-a');
    // The store as a delete racing the enrolment sees it: DELETING lands right after the serial is claimed.
    const racingStore: Store = Object.create(store);
    racingStore.putGuestCertificate = async (record) => {
      const put = await store.putGuestCertificate(record);
      await store.updateInstance('inst-a', { taskStatus: 'DELETING' });
      return put;
    };
    const racing = new EnrolmentService({ store: racingStore, ca, tokens, revocations });
    const body = { guestId: 'inst-a', instanceId: 'inst-a', token: granted.enrolment.token, csrPem };
    expect(await refusal(racing.enrol(body))).toBe('INSTANCE_DELETED');
    expect(await store.listGuestCertificates({ revoked: false })).toHaveLength(0);
    expect(revocations.isRevoked(granted.serial)).toBe(true);
  });
});

describe('source rate limiter', () => {
  it('limits requests and refusals per source per window', () => {
    let now = 0;
    const limiter = new SourceRateLimiter({ windowMs: 1000, maxRequests: 3, maxFailures: 2, clock: () => now });
    expect([1, 2, 3, 4].map(() => limiter.admit('a').allowed)).toEqual([true, true, true, false]);
    expect(limiter.admit('b').allowed).toBe(true);
    limiter.failed('b');
    limiter.failed('b');
    expect(limiter.admit('b')).toEqual({ allowed: false, retryAfterMs: 1000 });
    now = 1000;
    expect(limiter.admit('a').allowed).toBe(true);
    expect(limiter.admit('b').allowed).toBe(true);
    // A key of its own (source and guest): its refusals limit it, not the source's other guests.
    limiter.failed('b#g1');
    limiter.failed('b#g1');
    expect(limiter.check('b#g1')).toEqual({ allowed: false, retryAfterMs: 1000 });
    expect(limiter.check('b#g2').allowed).toBe(true);
    expect(limiter.admit('b').allowed).toBe(true);
  });
});
