import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { type AgentConfig, createKeyAndCsr } from '@corral/core';
import { z } from 'zod';
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
 * sends only a CSR with the token, and checks that what comes back is for this key, this guest, from this CA.
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
  const { keyPem, csrPem } = await createKeyAndCsr({ commonName: config.guestId });
  logger.info({ url: enrolment.url }, 'enrolling: sending a CSR');
  const certPem = await postCsr(enrolment.url, broker.caPem, enrolment.timeoutSeconds * 1000, {
    guestId: config.guestId,
    instanceId: config.instanceId,
    token: enrolment.token,
    csrPem,
  });
  const problem = checkCertificate(certPem, keyPem, broker.caPem, config.guestId, 0);
  if (problem) throw new AgentError('ENROLMENT_FAILED', `enrolment: the certificate received ${problem}`);
  // Key first, certificate last: a cert.pem on disk always has its key beside it.
  writeFileSync(keyPath, keyPem, { mode: 0o600 });
  writeFileSync(certPath, certPem, { mode: 0o600 });
  logger.info('enrolled: certificate stored');
  return { certPem, keyPem, source: 'enrolled' };
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

function postCsr(url: string, caPem: string, timeoutMs: number, body: Record<string, string>): Promise<string> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
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
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            json = undefined;
          }
          const ok = EnrolmentReplySchema.safeParse(json);
          if (res.statusCode === 200 && ok.success) return resolve(ok.data.certPem);
          const failure = EnrolmentErrorSchema.safeParse(json);
          const reason = failure.success
            ? `${failure.data.error.code}: ${failure.data.error.message}`
            : 'no certificate in the reply';
          reject(new AgentError('ENROLMENT_FAILED', `enrolment refused by ${url} (HTTP ${res.statusCode}): ${reason}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) =>
      reject(new AgentError('ENROLMENT_FAILED', `enrolment at ${url} failed: ${error.message}`, { cause: error })),
    );
    req.end(payload);
  });
}

/** Removes a stored enrolled identity (tests, or an operator re-enrolling a guest). */
export function forgetIdentity(stateDir: string): void {
  rmSync(join(stateDir, 'identity'), { recursive: true, force: true });
}
