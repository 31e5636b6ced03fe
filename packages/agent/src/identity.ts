import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { AgentConfig } from '@corral/core/contract';
import * as z from 'zod';
import { AgentError } from './errors.js';
import type { Logger } from './log.js';

export interface AgentIdentity {
  certPem: string;
  /** Never logged, never sent anywhere. */
  keyPem: string;
  source: 'config' | 'stored' | 'enrolled';
}

const EnrolmentReplySchema = z.object({ certPem: z.string().min(1) });
const EnrolmentErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/**
 * The agent's client certificate: given in the config, or obtained once by enrolment and kept in
 * `<stateDir>/identity` (key 0600), so a restart reuses it (the token is one-time). Enrolment makes the key here,
 * writes it before sending only a CSR with the token (a retry after a lost reply sends the same key, which the
 * endpoint answers again), and checks that what comes back is for this key, this guest, from this CA.
 */
export async function resolveIdentity(config: AgentConfig, logger: Logger): Promise<AgentIdentity> {
  const { broker } = config;
  if (broker.certPem !== undefined && broker.keyPem !== undefined) {
    return { certPem: broker.certPem, keyPem: broker.keyPem, source: 'config' };
  }
  const enrolment = broker.enrolment;
  if (!enrolment) throw new AgentError('CONFIG_INVALID', 'broker: needs either certPem + keyPem or enrolment');
  const dir = join(config.stateDir, 'identity');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    const stored = { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
    const problem = checkCertificate(stored.certPem, stored.keyPem, broker.caPem, config.guestId, 60_000);
    if (!problem) return { ...stored, source: 'stored' };
    logger.warn({ problem }, 'stored certificate unusable; enrolling again');
  }

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pending = pendingKey(dir, existsSync(certPath));
  const { keyPem, csrPem } =
    pending ?? (await (await import('./enrolment-key.js')).createKeyAndCsr({ commonName: config.guestId }));
  if (pending === undefined) {
    // Key (and its CSR) on disk BEFORE the POST: when the reply is lost or the agent dies before writing the
    // certificate, the next attempt sends the same key, which the endpoint answers again; a new key would be
    // refused as a second use of the one-time token. The CSR last, so a csr.pem always has its key beside it.
    rmSync(certPath, { force: true });
    writeFileSync(keyPath, keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'csr.pem'), csrPem, { mode: 0o600 });
  }
  logger.info({ url: enrolment.url, reusedKey: pending !== undefined }, 'enrolling: sending a CSR');
  const certPem = await postCsrWithRetries(enrolment.url, broker.caPem, enrolment.timeoutSeconds * 1000, logger, {
    guestId: config.guestId,
    instanceId: config.instanceId,
    token: enrolment.token,
    csrPem,
  });
  const problem = checkCertificate(certPem, keyPem, broker.caPem, config.guestId, 0);
  if (problem) throw new AgentError('ENROLMENT_FAILED', `enrolment: the certificate received ${problem}`);
  writeFileSync(certPath, certPem, { mode: 0o600 });
  logger.info('enrolled: certificate stored');
  return { certPem, keyPem, source: 'enrolled' };
}

/** The key and CSR of an enrolment that never got its certificate, to be sent again; none after a certificate. */
function pendingKey(dir: string, hadCertificate: boolean): { keyPem: string; csrPem: string } | undefined {
  const keyPath = join(dir, 'key.pem');
  const csrPath = join(dir, 'csr.pem');
  // A stored certificate that is unusable (expired, another CA) starts over with a fresh key.
  if (hadCertificate || !existsSync(keyPath) || !existsSync(csrPath)) return undefined;
  return { keyPem: readFileSync(keyPath, 'utf8'), csrPem: readFileSync(csrPath, 'utf8') };
}

/** Why a certificate cannot serve as this guest's identity, or undefined when it can. */
export function checkCertificate(
  certPem: string,
  keyPem: string,
  caPem: string,
  guestId: string,
  marginMs: number,
): string | undefined {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    if (!cert.verify(ca.publicKey)) return 'is not signed by the configured CA';
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return 'does not match the private key';
    // Node prints a multi-valued RDN (pkijs puts OU and CN in one) as "OU=guest + CN=id".
    if (!cert.subject.split(/\n| \+ /).includes(`CN=${guestId}`)) {
      return `does not name guest ${guestId}`;
    }
    if (Date.parse(cert.validTo) - marginMs <= Date.now()) return 'has expired';
    return undefined;
  } catch (error) {
    return `cannot be read (${(error as Error).message})`;
  }
}

type Attempt = { ok: true; certPem: string } | { ok: false; transient: boolean; retryAfterMs?: number; reason: string };

/**
 * POSTs until a certificate comes back or `timeoutMs` is spent. Network errors, 429 (after its Retry-After)
 * and 5xx are tried again with jittered exponential back-off; any other refusal is final and carries its code.
 */
export async function postCsrWithRetries(
  url: string,
  caPem: string,
  timeoutMs: number,
  logger: Logger,
  body: Record<string, string>,
  backoff: { baseMs: number; maxMs: number } = { baseMs: 500, maxMs: 10_000 },
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    // Each attempt gets a share of the budget: a reply lost for good must leave time for another attempt.
    const attemptMs = Math.min(remaining, Math.max(10_000, timeoutMs / 4));
    const outcome = await postCsr(url, caPem, Math.max(1, attemptMs), body);
    if (outcome.ok) return outcome.certPem;
    if (!outcome.transient) throw new AgentError('ENROLMENT_FAILED', outcome.reason);
    const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** (attempt - 1));
    const delay = Math.max(outcome.retryAfterMs ?? 0, ceiling / 2 + Math.random() * (ceiling / 2));
    if (Date.now() + delay >= deadline) {
      throw new AgentError('ENROLMENT_FAILED', `${outcome.reason} (gave up after ${attempt} attempts)`);
    }
    logger.warn({ attempt, delayMs: Math.round(delay), reason: outcome.reason }, 'enrolment: trying again');
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function postCsr(url: string, caPem: string, timeoutMs: number, body: Record<string, string>): Promise<Attempt> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        ca: caPem,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': payload.byteLength },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) =>
          resolve({ ok: false, transient: true, reason: `enrolment at ${url}: ${error.message}` }),
        );
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = undefined;
          }
          const status = res.statusCode ?? 0;
          const ok = EnrolmentReplySchema.safeParse(json);
          if (status === 200 && ok.success) return resolve({ ok: true, certPem: ok.data.certPem });
          const failure = EnrolmentErrorSchema.safeParse(json);
          const why = failure.success
            ? `${failure.data.error.code}: ${failure.data.error.message}`
            : 'no certificate in the reply';
          const retryAfter = Number(res.headers['retry-after']);
          resolve({
            ok: false,
            transient: status === 429 || status >= 500,
            retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined,
            reason: `enrolment refused by ${url} (HTTP ${status}): ${why}`,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) =>
      resolve({ ok: false, transient: true, reason: `enrolment at ${url} failed: ${error.message}` }),
    );
    req.end(payload);
  });
}

/** Removes a stored enrolled identity (tests, or an operator re-enrolling a guest). */
export function forgetIdentity(stateDir: string): void {
  rmSync(join(stateDir, 'identity'), { recursive: true, force: true });
}
