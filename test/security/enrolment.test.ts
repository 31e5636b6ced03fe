/**
 * The enrolment endpoint under hostile requests: forged, tampered, expired, foreign-CA, reused and other
 * instances' tokens; unknown, deleting and deleted instances; CSRs for other key types (RSA, P-384), with a
 * broken signature, or that are not CSRs; oversized, malformed, mistyped and extra-field bodies; wrong method,
 * path and content type; plus fast-check generated JSON bodies. Each must be refused with its stable code and
 * `{error: {code, message}}` (never a 200, never a 500), leave no certificate behind, and log no token, CSR or
 * key. Then the embedded control plane's own endpoint: its certificate names 10.0.2.2 and 127.0.0.1, it
 * enrols a guest of its store, and its limit answers 429 to one guest's bad tokens but not to its neighbour's.
 * A retry after a lost reply (client hangs up after sending) gets the certificate with the same key, not another. The suite prints how many cases it
 * tried and refused. No setup script: in-process SQLite/memory stores and node:https on 127.0.0.1.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:tls';
import {
  AgentConfigSchema,
  type CertificateAuthority,
  createCa,
  createMemoryStore,
  decodeAgentUserData,
  type EmbeddedControlPlane,
  type EnrolmentServerHandle,
  EnrolmentService,
  EnrolmentTokens,
  type Store,
  startEmbeddedControlPlane,
  startEnrolmentServer,
} from '@corral/core';
import { connectMqttTransport, guestIdentity } from '@corral/core/messaging';
import { createKeyAndCsr, issueServerCertificate } from '@corral/core/pki';
import { createForeignKeyCsr, FakeProvider } from '@corral/core/testing';
import fc from 'fast-check';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string | string[] | undefined>;
}

function post(
  url: string,
  caPem: string,
  payload: string | Buffer,
  options: { method?: string; path?: string; headers?: Record<string, string | number>; chunked?: boolean } = {},
): Promise<Reply> {
  const target = new URL(url);
  if (options.path) target.pathname = options.path;
  const data = Buffer.from(payload);
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: options.method ?? 'POST',
        ca: caPem,
        headers: {
          'content-type': 'application/json',
          ...(options.chunked ? {} : { 'content-length': data.byteLength }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
      },
    );
    // The server may cut an oversized upload short after answering; the answer is what counts.
    req.on('error', reject);
    if (options.chunked) {
      for (let offset = 0; offset < data.byteLength; offset += 4096) req.write(data.subarray(offset, offset + 4096));
      req.end();
    } else req.end(data);
  });
}

function codeOf(reply: Reply): string | undefined {
  const body = reply.body as { error?: { code?: unknown; message?: unknown } };
  return typeof body?.error?.code === 'string' && typeof body.error.message === 'string' ? body.error.code : undefined;
}

const counts = { tried: 0, refused: 0 };
const byCode: Record<string, number> = {};

afterAll(() => {
  console.log(
    `[security] enrolment endpoint: tried ${counts.tried}, refused ${counts.refused} ${JSON.stringify(byCode)}`,
  );
});

describe('enrolment endpoint refusals', () => {
  let ca: CertificateAuthority;
  let store: Store;
  let tokens: EnrolmentTokens;
  let endpoint: EnrolmentServerHandle;
  const logged: string[] = [];
  const secrets: string[] = [];
  let csrPem: string;

  beforeAll(async () => {
    ca = await createCa({ commonName: 'enrolment security CA' });
    store = createMemoryStore();
    tokens = EnrolmentTokens.fromCa(ca);
    const tls = await issueServerCertificate(ca, { commonName: 'corral-enrolment' });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged.push(chunk.toString());
        done();
      },
    });
    endpoint = await startEnrolmentServer({
      service: new EnrolmentService({ store, ca, tokens }),
      tls: { certPem: tls.certPem, keyPem: tls.keyPem },
      // Default limits: token refusals count per (source, claimed guest), so the matrix stays under them.
      logger: pino({ level: 'debug' }, sink),
    });
    for (const id of ['inst-a', 'inst-b', 'inst-gone', 'inst-deleting', 'inst-lost']) {
      await store.createInstance({
        id,
        name: id,
        projectId: 'sec',
        provider: 'none',
        flavor: 'small',
        image: 'none',
        datastore: { type: 'redis', version: '7' },
      });
    }
    await store.updateInstance('inst-gone', { taskStatus: 'NONE', deletedAt: Date.now() });
    await store.updateInstance('inst-deleting', { taskStatus: 'DELETING' });
    csrPem = (await createKeyAndCsr({ commonName: 'inst-a' })).csrPem;
  });

  afterAll(async () => {
    await endpoint?.close();
    await store?.close();
  });

  const token = (instanceId: string, guestId = instanceId, ttlMs = 60_000, now?: number) => {
    const issued = tokens.issue({ instanceId, guestId, ttlMs, ...(now !== undefined && { now }) });
    secrets.push(issued.token);
    return issued.token;
  };

  async function expectRefused(reply: Promise<Reply>, code: string, status?: number): Promise<void> {
    counts.tried++;
    const got = await reply;
    expect(codeOf(got), JSON.stringify(got.body)).toBe(code);
    if (status !== undefined) expect(got.status).toBe(status);
    expect(got.status).toBeGreaterThanOrEqual(400);
    expect(got.status).toBeLessThan(500);
    counts.refused++;
    byCode[code] = (byCode[code] ?? 0) + 1;
  }

  const send = (body: unknown, options?: Parameters<typeof post>[3]) =>
    post(endpoint.url, ca.certPem, JSON.stringify(body), options);

  it('refuses bad, expired, foreign and misbound tokens', async () => {
    const good = token('inst-a');
    const [prefix, claims, mac] = good.split('.') as [string, string, string];
    const rewrite = (change: Record<string, unknown>) =>
      `${prefix}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(claims, 'base64url').toString()), ...change })).toString('base64url')}.${mac}`;
    const foreign = EnrolmentTokens.fromCa(await createCa()).issue({
      instanceId: 'inst-a',
      guestId: 'inst-a',
      ttlMs: 60_000,
    });
    const body = { guestId: 'inst-a', instanceId: 'inst-a', csrPem };
    for (const bad of [
      rewrite({ i: 'inst-b' }),
      rewrite({ e: Date.now() + 1e10 }),
      `${prefix}.${claims}.${mac.slice(0, -3)}AAA`,
      `${prefix}.${claims}.`,
      `cet2.${claims}.${mac}`,
      foreign.token,
      'a'.repeat(64),
      `${'x.'.repeat(20)}y`,
    ]) {
      await expectRefused(send({ ...body, token: bad }), 'TOKEN_INVALID', 401);
    }
    await expectRefused(
      send({ ...body, token: token('inst-a', 'inst-a', 1000, Date.now() - 5000) }),
      'TOKEN_EXPIRED',
      401,
    );
    // Another instance's genuine token, and a genuine token presented for another guest id.
    await expectRefused(send({ ...body, token: token('inst-b') }), 'TOKEN_MISMATCH', 403);
    await expectRefused(send({ ...body, guestId: 'inst-b', token: token('inst-a') }), 'TOKEN_MISMATCH', 403);
    await expectRefused(send({ ...body, token: token('inst-a', 'inst-b') }), 'TOKEN_MISMATCH', 403);
  });

  it('refuses unknown, deleting and deleted instances', async () => {
    await expectRefused(
      send({ guestId: 'ghost', instanceId: 'ghost', csrPem, token: token('ghost') }),
      'INSTANCE_NOT_FOUND',
      404,
    );
    for (const id of ['inst-gone', 'inst-deleting']) {
      await expectRefused(send({ guestId: id, instanceId: id, csrPem, token: token(id) }), 'INSTANCE_DELETED', 409);
    }
  });

  it('refuses CSRs for other key types, broken ones and non-CSRs', async () => {
    const body = { guestId: 'inst-b', instanceId: 'inst-b', token: token('inst-b') };
    await expectRefused(send({ ...body, csrPem: await createForeignKeyCsr('rsa-2048') }), 'CSR_KEY_UNSUPPORTED', 400);
    await expectRefused(send({ ...body, csrPem: await createForeignKeyCsr('p-384') }), 'CSR_KEY_UNSUPPORTED', 400);
    const { csrPem: other } = await createKeyAndCsr({ commonName: 'inst-b' });
    const lines = other.trim().split('\n');
    const inner = lines.slice(1, -1).join('');
    const flipped = `${inner.slice(0, -10)}${inner.slice(-10, -9) === 'A' ? 'B' : 'A'}${inner.slice(-9)}`;
    await expectRefused(send({ ...body, csrPem: `${lines[0]}\n${flipped}\n${lines.at(-1)}\n` }), 'CSR_INVALID', 400);
    await expectRefused(
      send({ ...body, csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }),
      'CSR_INVALID',
      400,
    );
    await expectRefused(send({ ...body, csrPem: ca.certPem }), 'BODY_INVALID', 400);
    expect(await store.listGuestCertificates({ guestId: 'inst-b' })).toHaveLength(0);
  });

  it('refuses malformed, oversized and mistyped bodies and requests', async () => {
    const body = { guestId: 'inst-b', instanceId: 'inst-b', token: token('inst-b'), csrPem };
    await expectRefused(send({ ...body, extra: true }), 'BODY_INVALID', 400);
    await expectRefused(send({ ...body, token: 42 }), 'BODY_INVALID', 400);
    await expectRefused(send({ ...body, guestId: 'a/b' }), 'BODY_INVALID', 400);
    await expectRefused(send({ guestId: 'inst-b' }), 'BODY_INVALID', 400);
    await expectRefused(send([body]), 'BODY_INVALID', 400);
    await expectRefused(send(null), 'BODY_INVALID', 400);
    await expectRefused(post(endpoint.url, ca.certPem, '{"guestId": '), 'JSON_INVALID', 400);
    await expectRefused(post(endpoint.url, ca.certPem, ''), 'JSON_INVALID', 400);
    const huge = JSON.stringify({ ...body, csrPem: 'A'.repeat(64 * 1024) });
    await expectRefused(post(endpoint.url, ca.certPem, huge), 'BODY_TOO_LARGE', 413);
    await expectRefused(post(endpoint.url, ca.certPem, huge, { chunked: true }), 'BODY_TOO_LARGE', 413);
    await expectRefused(send(body, { headers: { 'content-type': 'text/plain' } }), 'UNSUPPORTED_MEDIA_TYPE', 415);
    await expectRefused(send(body, { method: 'PUT' }), 'METHOD_NOT_ALLOWED', 405);
    await expectRefused(send(body, { path: '/v1/admin' }), 'NOT_FOUND', 404);
  });

  it('refuses generated JSON bodies', async () => {
    const tried = counts.tried;
    const almost = fc.record(
      {
        guestId: fc.oneof(fc.constant('inst-b'), fc.string({ maxLength: 140 }), fc.integer()),
        instanceId: fc.oneof(fc.constant('inst-b'), fc.string({ maxLength: 140 })),
        token: fc.oneof(
          fc.string({ maxLength: 300 }),
          fc
            .tuple(
              fc.constantFrom('cet1', 'cet2', 'x'),
              fc.base64String({ minLength: 16, maxLength: 200 }),
              fc.base64String({ minLength: 40, maxLength: 44 }),
            )
            .map(([prefix, claims, mac]) =>
              `${prefix}.${claims}.${mac}`.replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, ''),
            ),
        ),
        csrPem: fc.oneof(fc.constant(csrPem), fc.string({ maxLength: 200 })),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), almost), async (value) => {
        counts.tried++;
        const reply = await send(value);
        const code = codeOf(reply);
        expect(code, JSON.stringify(reply.body)).toBeDefined();
        expect(reply.status).toBeGreaterThanOrEqual(400);
        expect(reply.status).toBeLessThan(500);
        counts.refused++;
        byCode[code as string] = (byCode[code as string] ?? 0) + 1;
      }),
      { numRuns: 150 },
    );
    expect(counts.tried - tried).toBe(150);
  });

  it('enrols once with a good request, then refuses the token, and logs no secret', async () => {
    const good = token('inst-a');
    const reply = await send({ guestId: 'inst-a', instanceId: 'inst-a', token: good, csrPem });
    expect(reply.status).toBe(200);
    const certPem = (reply.body as { certPem: string }).certPem;
    expect(new X509Certificate(certPem).subject).toContain('CN=inst-a');
    // The same token and key again (a retry after a lost reply) gets the same certificate; another key cannot.
    const again = await send({ guestId: 'inst-a', instanceId: 'inst-a', token: good, csrPem });
    expect(again.status).toBe(200);
    const againPem = (again.body as { certPem: string }).certPem;
    expect(new X509Certificate(againPem).serialNumber).toBe(new X509Certificate(certPem).serialNumber);
    const otherKey = (await createKeyAndCsr({ commonName: 'inst-a' })).csrPem;
    await expectRefused(
      send({ guestId: 'inst-a', instanceId: 'inst-a', token: good, csrPem: otherKey }),
      'TOKEN_USED',
      409,
    );
    const second = token('inst-a');
    await expectRefused(
      send({ guestId: 'inst-a', instanceId: 'inst-a', token: second, csrPem }),
      'ALREADY_ENROLLED',
      409,
    );
    expect((await store.listGuestCertificates()).map((c) => c.guestId)).toEqual(['inst-a']);
    const log = logged.join('');
    expect(log).toContain('enrolment refused');
    for (const secret of secrets) expect(log).not.toContain(secret.split('.')[2]);
    // No PEM of any kind (CSR, certificate, key) and no base64 body of one.
    expect(log).not.toContain('-----BEGIN');
    expect(log).not.toContain(csrPem.split('\n')[1]);
    expect(counts.refused).toBe(counts.tried);
  });

  it('answers a retry after a lost reply: the same key gets its certificate, another key is refused', async () => {
    const good = token('inst-lost');
    const lostKey = await createKeyAndCsr({ commonName: 'inst-lost' });
    const body = { guestId: 'inst-lost', instanceId: 'inst-lost', token: good, csrPem: lostKey.csrPem };
    // The client sends the whole request and goes away before the answer: the reply is lost.
    await sendAndHangUp(endpoint.url, ca.certPem, JSON.stringify(body));
    const deadline = Date.now() + 10_000;
    while ((await store.listGuestCertificates({ guestId: 'inst-lost' })).length === 0 && Date.now() < deadline) {
      await sleep(20);
    }
    const [claimed] = await store.listGuestCertificates({ guestId: 'inst-lost' });
    expect(claimed?.revoked).toBe(false);
    const retry = await send(body);
    expect(retry.status).toBe(200);
    const cert = new X509Certificate((retry.body as { certPem: string }).certPem);
    expect(cert.checkPrivateKey(createPrivateKey(lostKey.keyPem))).toBe(true);
    expect(cert.serialNumber.replace(/^0+/, '').toLowerCase()).toBe(claimed?.serial);
    const thief = await createKeyAndCsr({ commonName: 'inst-lost' });
    await expectRefused(send({ ...body, csrPem: thief.csrPem }), 'TOKEN_USED', 409);
    expect(await store.listGuestCertificates({ guestId: 'inst-lost' })).toHaveLength(1);
  });
});

describe('the embedded control plane with guestIdentity enrolment', () => {
  let stateDir: string;
  let embedded: EmbeddedControlPlane;
  const provider = new FakeProvider();

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'corral-enrol-sec-'));
    embedded = await startEmbeddedControlPlane({
      stateDir,
      providers: { fake: provider },
      guestIdentity: 'enrolment',
      logger: pino({ level: 'silent' }),
    });
  });

  afterAll(async () => {
    await embedded?.close();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('puts a token, not a key, in the bootstrap; the enrolled certificate opens the broker until delete revokes it', async () => {
    const endpoint = embedded.enrolment;
    if (!endpoint) throw new Error('no enrolment endpoint started');
    expect(embedded.guestEnrolmentUrl).toBe(`https://10.0.2.2:${endpoint.port}/v1/enrol`);
    // The endpoint's certificate names the address guests use for the host, and the host's loopback.
    const peer = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: endpoint.port, ca: embedded.ca.certPem }, () => {
        resolve(socket.getPeerX509Certificate()?.toString() ?? '');
        socket.end();
      });
      socket.on('error', reject);
    });
    const x509 = new X509Certificate(peer);
    expect(x509.checkIP('10.0.2.2')).toBe('10.0.2.2');
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');

    const { instances } = embedded.controlPlane;
    const created = await instances.create({
      name: 'enrol-sec',
      provider: 'fake',
      flavor: 'small',
      datastore: { type: 'redis' },
    });
    let serverId: string | null | undefined;
    for (let i = 0; i < 200 && !serverId; i++) {
      serverId = (await instances.get(created.id)).serverId;
      if (!serverId) await sleep(25);
    }
    if (!serverId) throw new Error('the create task made no server');
    const userData = provider.bootstrapOf(serverId);
    expect(userData).not.toContain('PRIVATE KEY');
    const config = AgentConfigSchema.parse(decodeAgentUserData(userData));
    expect(config.broker.certPem).toBeUndefined();
    expect(config.broker.enrolment?.url).toBe(embedded.guestEnrolmentUrl);
    const token = config.broker.enrolment?.token ?? '';

    // The guest's side, done here: its own key, a CSR, the token from its bootstrap.
    const { keyPem, csrPem } = await createKeyAndCsr({ commonName: created.id });
    const body = JSON.stringify({ guestId: config.guestId, instanceId: config.instanceId, token, csrPem });
    const ok = await post(endpoint.url, embedded.ca.certPem, body);
    expect(ok.status).toBe(200);
    const certPem = (ok.body as { certPem: string }).certPem;
    // The token is used: another key cannot have it (the same key would get its certificate again).
    const other = (await createKeyAndCsr({ commonName: created.id })).csrPem;
    const stolen = JSON.stringify({ guestId: config.guestId, instanceId: config.instanceId, token, csrPem: other });
    await expectRefusedHere(post(endpoint.url, embedded.ca.certPem, stolen), 'TOKEN_USED');
    const guest = await connectMqttTransport({
      url: embedded.broker.url,
      ca: embedded.ca.certPem,
      cert: certPem,
      key: keyPem,
      identity: guestIdentity(config.guestId),
      protocolVersion: 4,
    });
    try {
      expect(embedded.broker.connectedIdentities().map((identity) => identity.cn)).toContain(config.guestId);
      const [record] = await embedded.store.listGuestCertificates({ guestId: config.guestId });
      expect(record).toMatchObject({ instanceId: created.id, revoked: false });

      await instances.delete(created.id, { force: true });
      await instances.waitFor(created.id, (view) => view.status === 'DELETED', { timeoutMs: 30_000 });
      expect(await embedded.store.getGuestCertificate(record?.serial ?? '')).toMatchObject({ revoked: true });
      expect(embedded.revocations.isRevoked(record?.serial ?? '')).toBe(true);
      for (let i = 0; i < 200 && guest.connected; i++) await sleep(25);
      expect(embedded.broker.connectedIdentities().map((identity) => identity.cn)).not.toContain(config.guestId);
      // And a token of the deleted instance buys nothing now.
      const late = EnrolmentTokens.fromCa(embedded.ca).issue({
        instanceId: created.id,
        guestId: config.guestId,
        ttlMs: 60_000,
      });
      await expectRefusedHere(
        post(
          endpoint.url,
          embedded.ca.certPem,
          JSON.stringify({ guestId: config.guestId, instanceId: created.id, token: late.token, csrPem }),
        ),
        'INSTANCE_DELETED',
      );
    } finally {
      await guest.close();
    }
  });

  it('limits a noisy source: 429 with Retry-After once its refusals pass the default 60 a minute', async () => {
    const endpoint = embedded.enrolment;
    if (!endpoint) throw new Error('no enrolment endpoint started');
    const { csrPem } = await createKeyAndCsr({ commonName: 'x' });
    const body = JSON.stringify({ guestId: 'nobody', instanceId: 'nobody', token: 'x'.repeat(32), csrPem });
    let limited: Reply | undefined;
    let sent = 0;
    while (limited === undefined && sent < 70) {
      sent++;
      const reply = await post(endpoint.url, embedded.ca.certPem, body);
      if (reply.status === 429) limited = reply;
    }
    // Counted per (source, claimed guest): the 61st bad token for `nobody` is limited.
    expect(sent).toBe(61);
    await expectRefusedHere(Promise.resolve(limited ?? { status: 0, body: null }), 'RATE_LIMITED');
    expect((limited as Reply).headers?.['retry-after']).toMatch(/^\d+$/);
    // Another guest behind the same address (every libvirt guest is 127.0.0.1 here) is not limited.
    const neighbour = JSON.stringify({ guestId: 'somebody', instanceId: 'somebody', token: 'x'.repeat(32), csrPem });
    await expectRefusedHere(post(endpoint.url, embedded.ca.certPem, neighbour), 'TOKEN_INVALID');
  });
});

/** Sends a whole request, then closes the connection without reading the answer. */
function sendAndHangUp(url: string, caPem: string, payload: string): Promise<void> {
  const data = Buffer.from(payload);
  return new Promise((resolve) => {
    const req = request(url, {
      method: 'POST',
      ca: caPem,
      headers: { 'content-type': 'application/json', 'content-length': data.byteLength },
    });
    req.on('error', () => {});
    req.on('finish', () => {
      req.destroy();
      resolve();
    });
    req.end(data);
  });
}

async function expectRefusedHere(reply: Promise<Reply>, code: string): Promise<void> {
  counts.tried++;
  const got = await reply;
  expect(codeOf(got), JSON.stringify(got.body)).toBe(code);
  counts.refused++;
  byCode[code] = (byCode[code] ?? 0) + 1;
}
