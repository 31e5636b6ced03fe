/**
 * Keeps a private mosquitto's CRL true while the control plane runs (used by mosquitto.ts):
 *   - on each revocation: write the CRL (atomically), SIGHUP mosquitto, wait until its log says it reloaded
 *     (mosquitto 2.0.x re-reads `crlfile` on SIGHUP for new connections), then drop the revoked guest's live
 *     connection by taking over its session: a throw-away certificate for the same CN (signed here, valid
 *     10 minutes, revoked right after) connects with the guest's client id, and mosquitto closes the old one.
 *     mosquitto has no other way to end one client's connection without a plugin or a restart of everyone.
 *   - re-issues the CRL at half its validity, so a long-running control plane never serves an expired one
 *     (an expired CRL makes mosquitto refuse every client, the control plane's own included).
 */
import { open, rename, stat, writeFile } from 'node:fs/promises';
import { connect } from 'mqtt';
import type { CertificateAuthority } from '../pki/ca.js';
import { CRL_VALIDITY_DAYS, type RevocationList } from '../pki/crl.js';
import { issueGuestCertificate } from '../pki/issue.js';
import type { MessagingLogger } from './log.js';

const DAY_MS = 24 * 3600 * 1000;
const TAKEOVER_CERT_MS = 10 * 60_000;

export interface MosquittoRevocationOptions {
  list: RevocationList;
  ca: CertificateAuthority;
  /** How often to look whether the CRL is due for re-issue (default 1 hour). */
  refreshCheckMs?: number;
  /** The clock (tests inject one). */
  now?: () => number;
}

export interface CrlFollowerTarget {
  crlFile: string;
  logFile: string;
  url: string;
  pid(): number | undefined;
  logger: MessagingLogger;
}

export class MosquittoCrlFollower {
  #writtenAt = 0;
  #running: Promise<void> | undefined;
  #again = false;
  readonly #toKick = new Set<string>();
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  readonly #now: () => number;

  constructor(
    private readonly options: MosquittoRevocationOptions,
    private readonly target: CrlFollowerTarget,
  ) {
    this.#now = options.now ?? Date.now;
    this.#unsubscribe = options.list.onRevoke((_serial, commonName) => {
      if (commonName !== undefined) this.#toKick.add(commonName);
      void this.update();
    });
    this.#timer = setInterval(() => {
      if (this.refreshDue()) void this.update();
    }, options.refreshCheckMs ?? 3600_000);
    this.#timer.unref();
  }

  /** Half the CRL's validity has passed since it was last written. */
  refreshDue(): boolean {
    return this.#now() - this.#writtenAt >= (CRL_VALIDITY_DAYS * DAY_MS) / 2;
  }

  /** Writes the CRL file (before mosquitto starts, and on every update). */
  async writeCrl(): Promise<void> {
    const now = this.#now();
    const pem = await this.options.list.toCrlPem(this.options.ca, CRL_VALIDITY_DAYS, now);
    await writeFile(`${this.target.crlFile}.tmp`, pem, { mode: 0o644 });
    await rename(`${this.target.crlFile}.tmp`, this.target.crlFile);
    this.#writtenAt = now;
  }

  /** Writes the CRL, reloads mosquitto and drops revoked guests; calls made meanwhile fold into one more run. */
  update(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        const kick = [...this.#toKick];
        this.#toKick.clear();
        try {
          await this.writeCrl();
          await this.#reload();
          for (const commonName of kick) await this.#takeOver(commonName);
        } catch (error) {
          this.target.logger.error({ err: error }, 'mosquitto: CRL update failed');
        }
      } while (this.#again);
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  dispose(): void {
    clearInterval(this.#timer);
    this.#unsubscribe();
  }

  async #reload(): Promise<void> {
    const pid = this.target.pid();
    if (pid === undefined) return; // not running: it reads the file when it starts
    const from = await stat(this.target.logFile).then(
      (s) => s.size,
      () => 0,
    );
    process.kill(pid, 'SIGHUP');
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      if ((await this.#logSince(from)).includes('Reloading config')) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('mosquitto did not log a reload within 5 s of SIGHUP');
  }

  async #logSince(offset: number): Promise<string> {
    const file = await open(this.target.logFile, 'r').catch(() => undefined);
    if (file === undefined) return '';
    try {
      const { size } = await file.stat();
      if (size <= offset) return '';
      const buffer = Buffer.alloc(Math.min(size - offset, 1 << 20));
      await file.read(buffer, 0, buffer.length, offset);
      return buffer.toString('utf8');
    } finally {
      await file.close();
    }
  }

  /** Connects as `commonName` with a throw-away certificate, so mosquitto closes the guest's connection. */
  async #takeOver(commonName: string): Promise<void> {
    const { ca } = this.options;
    const now = this.#now();
    const cert = await issueGuestCertificate(ca, {
      guestId: commonName,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + TAKEOVER_CERT_MS),
    });
    const client = connect(this.target.url, {
      clientId: commonName,
      ca: ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
        client.once('close', () => reject(new Error('closed before CONNACK')));
      });
      this.target.logger.info({ cn: commonName }, 'mosquitto: took over a revoked guest session');
    } finally {
      client.end(true);
      // No common name: revoking the throw-away certificate must not start another takeover.
      this.options.list.revoke(cert.serial);
    }
  }
}
