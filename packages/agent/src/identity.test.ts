import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type CertificateAuthority, createCa, issueServerCertificate } from '@corral/core/pki';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postCsrWithRetries } from './identity.js';

type Answer = { status: number; body: unknown; headers?: Record<string, string> };

describe('enrolment client retries', () => {
  let ca: CertificateAuthority;
  let tls: { certPem: string; keyPem: string };
  let server: Server | undefined;
  const logger = pino({ level: 'silent' });
  const body = { guestId: 'g', instanceId: 'i', token: 't', csrPem: 'c' };
  const fast = { baseMs: 10, maxMs: 40 };

  beforeAll(async () => {
    ca = await createCa({ commonName: 'identity test CA' });
    tls = await issueServerCertificate(ca, { commonName: 'localhost' });
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server?.closeAllConnections();
    server = undefined;
  });

  /** An endpoint that gives the answers in order (the last one for ever); returns its URL and a request count. */
  async function endpoint(answers: Answer[]): Promise<{ url: string; requests: () => number }> {
    let count = 0;
    server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      const answer = answers[Math.min(count, answers.length - 1)] as Answer;
      count++;
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `https://127.0.0.1:${port}/v1/enrol`, requests: () => count };
  }

  const refusal = (code: string) => ({ error: { code, message: `${code} message` } });

  it('retries 5xx and 429 (after its Retry-After) until the certificate comes', async () => {
    const { url, requests } = await endpoint([
      { status: 503, body: refusal('INTERNAL') },
      { status: 429, body: refusal('RATE_LIMITED'), headers: { 'retry-after': '1' } },
      { status: 200, body: { certPem: 'CERT' } },
    ]);
    const started = Date.now();
    await expect(postCsrWithRetries(url, ca.certPem, 10_000, logger, body, fast)).resolves.toBe('CERT');
    expect(requests()).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('ends at once on a refusal other than 429, with its code', async () => {
    const { url, requests } = await endpoint([{ status: 403, body: refusal('TOKEN_MISMATCH') }]);
    await expect(postCsrWithRetries(url, ca.certPem, 10_000, logger, body, fast)).rejects.toThrow(
      /\(HTTP 403\): TOKEN_MISMATCH/,
    );
    expect(requests()).toBe(1);
  });

  it('retries a refused connection until its time is up', async () => {
    const { url } = await endpoint([{ status: 200, body: { certPem: 'CERT' } }]);
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    await expect(postCsrWithRetries(url, ca.certPem, 500, logger, body, fast)).rejects.toThrow(
      /ECONNREFUSED.*gave up after ([2-9]|\d\d+) attempts/,
    );
  });

  it('gives up without waiting when Retry-After is past its deadline', async () => {
    const { url, requests } = await endpoint([
      { status: 429, body: refusal('RATE_LIMITED'), headers: { 'retry-after': '60' } },
    ]);
    const started = Date.now();
    await expect(postCsrWithRetries(url, ca.certPem, 5000, logger, body, fast)).rejects.toThrow(
      /HTTP 429\): RATE_LIMITED.*gave up after 1 attempts/,
    );
    expect(requests()).toBe(1);
    expect(Date.now() - started).toBeLessThan(4000);
  });
});
