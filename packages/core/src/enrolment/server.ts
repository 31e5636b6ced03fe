import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { EnrolmentError, type EnrolmentRefusalCode } from './errors.js';
import { type RateLimitOptions, SourceRateLimiter } from './rate-limit.js';
import { DEFAULT_MAX_BODY_BYTES, ENROLMENT_PATH, EnrolmentRequestSchema } from './schema.js';
import type { EnrolmentService } from './service.js';

/**
 * Which refusals count towards the refusal limit: token refusals only, the guessing the limit is for, and per
 * (source, claimed guest), since behind QEMU user-mode networking every guest of a host comes from 127.0.0.1
 * and one guest's stale token must not get its neighbours a 429. Everything else counts against nobody: junk
 * bodies cost a JSON parse and are bounded by the per-source request limit; 404/405/500 and refusals that
 * needed a valid token (used, enrolled, deleted, bad CSR) are no guessing.
 */
const COUNTED: ReadonlySet<EnrolmentRefusalCode> = new Set(['TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_MISMATCH']);

/** The claimed guest of a well-formed request, or undefined for a body the service will refuse as invalid. */
function claimedGuestId(body: unknown): string | undefined {
  const parsed = EnrolmentRequestSchema.safeParse(body);
  return parsed.success ? parsed.data.guestId : undefined;
}

const guestKey = (source: string, guestId: string) => `${source}#${guestId}`;

export interface EnrolmentServerOptions {
  service: EnrolmentService;
  /** Server certificate and key, signed by the CA the guests trust; its SANs must name `guestHost`. */
  tls: { certPem: string; keyPem: string };
  /** Default 127.0.0.1 (guests of a libvirt host reach it as 10.0.2.2). */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Default 16 KiB. */
  maxBodyBytes?: number;
  rateLimit?: RateLimitOptions;
  logger?: Logger;
}

export interface EnrolmentServerHandle {
  /** `https://<host>:<port>/v1/enrol` as this process sees it. */
  url: string;
  port: number;
  /** The URL for a guest that reaches this host as `guestHost` (e.g. 10.0.2.2). */
  urlFor(guestHost: string): string;
  close(): Promise<void>;
}

/**
 * The enrolment endpoint over node:https: POST `/v1/enrol` with JSON `{guestId, instanceId, token, csrPem}` →
 * 200 `{certPem}`, or a status with `{error: {code, message}}` (codes in errors.ts). Bodies are capped while
 * they stream in, slow clients are cut off, requests are limited per source and token refusals per (source, claimed
 * guest) (see COUNTED). Logs carry the request id, source,
 * instance, guest, serial and refusal code; never the token, the CSR or the certificate.
 */
export async function startEnrolmentServer(options: EnrolmentServerOptions): Promise<EnrolmentServerHandle> {
  const logger = (options.logger ?? pino({ level: 'info' })).child({ component: 'enrolment' });
  const limiter = new SourceRateLimiter(options.rateLimit);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const server: Server = createServer(
    { cert: options.tls.certPem, key: options.tls.keyPem, minVersion: 'TLSv1.2' },
    (req, res) => {
      void handle(req, res);
    },
  );
  server.headersTimeout = 10_000;
  server.requestTimeout = 20_000;
  server.maxHeadersCount = 50;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const source = req.socket.remoteAddress ?? 'unknown';
    const started = Date.now();
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': requestId, ...headers });
      res.end(JSON.stringify(body));
    };
    const refuseLimited = (retryAfterMs: number, guestId?: string) => {
      const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
      logger.warn({ requestId, source, guestId, code: 'RATE_LIMITED' }, 'enrolment refused: rate limited');
      reply(429, new EnrolmentError('RATE_LIMITED', `too many requests; retry in ${seconds} s`).toBody(), {
        'retry-after': String(seconds),
        connection: 'close',
      });
      // Not drained: a limited client's body, whatever its size, is cut off once the answer is out.
      if (!req.complete) res.once('finish', () => req.destroy());
    };
    const admitted = limiter.admit(source);
    if (!admitted.allowed) return refuseLimited(admitted.retryAfterMs);
    let guestId: string | undefined;
    try {
      const body = await readJson(req, maxBodyBytes);
      guestId = claimedGuestId(body);
      if (guestId !== undefined) {
        const guest = limiter.check(guestKey(source, guestId));
        if (!guest.allowed) return refuseLimited(guest.retryAfterMs, guestId);
      }
      const enrolled = await options.service.enrol(body);
      reply(200, { certPem: enrolled.certPem });
      logger.info(
        { requestId, source, instanceId: enrolled.instanceId, guestId: enrolled.guestId, serial: enrolled.serial },
        'enrolment: certificate delivered',
      );
    } catch (error) {
      const refusal =
        error instanceof EnrolmentError
          ? error
          : new EnrolmentError('INTERNAL', 'enrolment failed; see the server log');
      // A token refusal always follows a parsed body, so its claimed guest is known.
      if (COUNTED.has(refusal.code) && guestId !== undefined) limiter.failed(guestKey(source, guestId));
      const log = { requestId, source, code: refusal.code, status: refusal.status, ms: Date.now() - started };
      if (refusal.code === 'INTERNAL') logger.error({ ...log, err: error }, 'enrolment failed');
      else logger.warn({ ...log, guestId, reason: refusal.message }, 'enrolment refused');
      // A body we stopped reading is not drained: close the connection after the answer.
      const close: Record<string, string> = req.complete ? {} : { connection: 'close' };
      if (refusal.code === 'METHOD_NOT_ALLOWED') close.allow = 'POST';
      reply(refusal.status, refusal.toBody(), close);
      if (!req.complete) res.once('finish', () => req.destroy());
    }
  }

  async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== ENROLMENT_PATH) throw new EnrolmentError('NOT_FOUND', `no such endpoint; POST ${ENROLMENT_PATH}`);
    if (req.method !== 'POST') throw new EnrolmentError('METHOD_NOT_ALLOWED', `${ENROLMENT_PATH} takes POST only`);
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      throw new EnrolmentError('UNSUPPORTED_MEDIA_TYPE', 'body: content-type must be application/json');
    }
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    const tooLarge = () => new EnrolmentError('BODY_TOO_LARGE', `body: must be at most ${limit} bytes`);
    if (declared > limit) throw tooLarge();
    // Listeners, not `for await`: leaving an async iterator early destroys the socket before we can answer 413.
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size > limit) {
          req.off('data', onData);
          req.pause();
          reject(tooLarge());
          return;
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.once('end', () => resolve(Buffer.concat(chunks)));
      req.once('error', reject);
    });
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      throw new EnrolmentError('JSON_INVALID', 'body: must be a JSON object');
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  const urlFor = (guestHost: string) => `https://${guestHost}:${port}${ENROLMENT_PATH}`;
  logger.info({ url: urlFor(host) }, 'enrolment endpoint listening');
  return {
    url: urlFor(host),
    port,
    urlFor,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
