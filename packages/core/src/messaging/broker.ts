/**
 * The embedded broker: aedes in-process behind a node:tls listener that requires client certificates
 * (requestCert + rejectUnauthorized, so no certificate, another CA or an expired one never gets past TLS).
 * Identity comes from the certificate's CN (identity.ts); revoked serials are refused at connect time and a
 * revocation disconnects a connected client at once. ACLs are enforced in aedes's hooks.
 *
 * aedes 1.x speaks MQTT 3.1.1 only and has no shared subscriptions: transports detect this and subscribe
 * without `$share/`, so run a single conductor process against the embedded broker.
 */
import type { AddressInfo, Socket } from 'node:net';
import { createServer, type PeerCertificate, type TLSSocket } from 'node:tls';
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from 'aedes';
import { normalizeSerial } from '../pki/names.js';
import {
  type ConnectionLimits,
  DEFAULT_CONNECTION_LIMITS,
  guardPackets,
  PendingConnections,
} from './connection-guard.js';
import { canPublish, canRetain, canSubscribe, type Identity, identityFromCommonName } from './identity.js';
import { type MessagingLogger, silentLogger } from './log.js';
import { indexRetainedMessages, type RetainedStore } from './retained-index.js';

export interface BrokerAuthorizer {
  /** Extra check after the certificate was accepted (default: allow). */
  authenticate?(identity: Identity): boolean;
  canPublish(identity: Identity, topic: string): boolean;
  canSubscribe(identity: Identity, filter: string): boolean;
}

export const defaultAuthorizer: BrokerAuthorizer = { canPublish, canSubscribe };

/** Anything that can say whether a serial is revoked and tell us when one gets revoked (e.g. pki's RevocationList). */
export interface RevocationSource {
  isRevoked(serial: string): boolean;
  onRevoke?(listener: (serial: string) => void): () => void;
}

export interface StartBrokerOptions {
  /** Default 127.0.0.1. Guests reach it as 10.0.2.2 (QEMU user networking), which the server cert must name. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  tls: { ca: string | Buffer; cert: string | Buffer; key: string | Buffer };
  revocations?: RevocationSource;
  authorizer?: BrokerAuthorizer;
  /** Bounds below MQTT (connection-guard.ts); each defaults to DEFAULT_CONNECTION_LIMITS. */
  limits?: Partial<ConnectionLimits>;
  /** Longest keepalive a client may ask for, in seconds (default 300); keepalive 0 (never) is refused. */
  keepaliveLimitSec?: number;
  /** An aedes persistence to reuse (e.g. the one of a previous `startBroker`, to keep sessions across a restart). */
  persistence?: AedesOptions['persistence'];
  logger?: MessagingLogger;
}

export interface BrokerHandle {
  url: string;
  host: string;
  port: number;
  aedes: Aedes;
  persistence: AedesOptions['persistence'];
  /** Identities of the connected clients, by client id. */
  connectedIdentities(): Identity[];
  stop(): Promise<void>;
}

function authError(message: string, returnCode: 2 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function firstOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The verified client certificate of a connection, or undefined: not TLS, not authorized, or a socket already
 * closed by the time aedes authenticates its CONNECT (node then answers null; seen when thousands of guests
 * reconnect at once and some give up on their connect timeout, and it used to crash the broker).
 */
export function peerCertificateOf(conn: unknown): PeerCertificate | undefined {
  const socket = conn as Partial<Pick<TLSSocket, 'authorized' | 'getPeerCertificate'>> | null;
  if (typeof socket?.getPeerCertificate !== 'function' || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate() as PeerCertificate | null;
  return cert?.subject ? cert : undefined;
}

export async function startBroker(options: StartBrokerOptions): Promise<BrokerHandle> {
  const host = options.host ?? '127.0.0.1';
  const logger = (options.logger ?? silentLogger()).child({ component: 'broker' });
  const authorizer = options.authorizer ?? defaultAuthorizer;
  const identities = new WeakMap<Client, Identity>();
  const serials = new Map<Client, string>();
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  const pending = new PendingConnections(limits.maxPendingPerSource);

  const aedes = await Aedes.createBroker({
    persistence: options.persistence,
    // A client must keep talking: keepalive 0 would let a half-sent packet or an idle socket stay forever.
    keepaliveLimit: options.keepaliveLimitSec ?? 300,
    connectTimeout: limits.handshakeTimeoutMs,
    authenticate(client, _username, _password, done) {
      const cert = peerCertificateOf(client.conn);
      if (!cert) return done(authError('client certificate required', 5), false);
      const cn = firstOf(cert.subject?.CN);
      const ou = firstOf(cert.subject?.OU);
      const identity = cn ? identityFromCommonName(cn) : undefined;
      // Exactly what corral issues: one CN, one OU naming the CN's role, nothing else in the subject.
      const exact =
        Object.keys(cert.subject).every((key) => key === 'CN' || key === 'OU') &&
        typeof cert.subject.CN === 'string' &&
        typeof cert.subject.OU === 'string';
      if (!identity || ou !== identity.role || !exact) {
        logger.warn({ cn, ou }, 'certificate names no corral identity');
        return done(authError('certificate names no corral identity', 5), false);
      }
      const serial = normalizeSerial(cert.serialNumber ?? '');
      if (options.revocations?.isRevoked(serial)) {
        logger.warn({ cn, serial }, 'revoked certificate refused');
        return done(authError('certificate revoked', 5), false);
      }
      // Client id = CN: otherwise guest A could take over guest B's session by connecting with B's id.
      if (client.id !== identity.cn) {
        return done(authError(`client id must be the certificate CN (${identity.cn})`, 2), false);
      }
      if (authorizer.authenticate && !authorizer.authenticate(identity)) {
        return done(authError('identity not allowed', 5), false);
      }
      identities.set(client, identity);
      serials.set(client, serial);
      const conn = client.conn as Partial<Socket>;
      pending.authenticated(conn.remoteAddress, conn.remotePort);
      done(null, true);
    },
    authorizePublish(client, packet, callback) {
      if (client === null) return callback(null); // a will of a client that is gone; it was checked as its own
      const identity = identities.get(client);
      const retainOk =
        !packet.retain || (identity !== undefined && canRetain(identity, packet.topic, packet.payload.length));
      if (identity && retainOk && authorizer.canPublish(identity, packet.topic)) return callback(null);
      logger.warn({ clientId: client.id, topic: packet.topic }, 'publish denied');
      callback(new Error(`publish to ${packet.topic} denied`));
    },
    authorizeSubscribe(client, subscription, callback) {
      const identity = identities.get(client);
      if (identity && authorizer.canSubscribe(identity, subscription.topic)) return callback(null, subscription);
      logger.warn({ clientId: client.id, topic: subscription.topic }, 'subscription denied');
      callback(null, null);
    },
  });
  // Guests' exact subscriptions find their retained messages by lookup, not by a scan of every guest's birth.
  indexRetainedMessages((aedes as unknown as { persistence: RetainedStore }).persistence, !options.persistence);
  aedes.on('clientDisconnect', (client) => serials.delete(client));

  const unsubscribeRevocations = options.revocations?.onRevoke?.((serial) => {
    for (const [client, clientSerial] of serials) {
      if (clientSerial === normalizeSerial(serial)) {
        logger.info({ clientId: client.id }, 'disconnecting a client whose certificate was revoked');
        client.close();
      }
    }
  });

  const sockets = new Set<Socket>();
  const server = createServer(
    {
      ca: options.tls.ca,
      cert: options.tls.cert,
      key: options.tls.key,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      noDelay: true,
      handshakeTimeout: limits.handshakeTimeoutMs,
    },
    (socket) => {
      guardPackets(socket, limits, (reason) =>
        logger.warn({ remoteAddress: socket.remoteAddress, reason }, 'connection closed: packet limit'),
      );
      aedes.handle(socket);
    },
  );
  server.on('connection', (socket: Socket) => {
    if (!pending.admit(socket)) {
      logger.warn({ remoteAddress: socket.remoteAddress }, 'too many unauthenticated connections from one source');
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Node reports a handshake that failed or timed out but leaves the socket open: close it.
  server.on('tlsClientError', (error, socket) => {
    logger.debug({ err: error.message }, 'TLS handshake refused');
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (error: unknown) => {
    // A taken port: let the caller try another without an orphaned broker (its timers keep a process alive).
    unsubscribeRevocations?.();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw error;
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ host, port }, 'embedded broker listening');

  let stopped = false;
  return {
    url: `mqtts://${host}:${port}`,
    host,
    port,
    aedes,
    persistence: (aedes as unknown as { persistence: AedesOptions['persistence'] }).persistence,
    connectedIdentities: () => [...serials.keys()].map((c) => identities.get(c)).filter((i) => i !== undefined),
    async stop() {
      if (stopped) return;
      stopped = true;
      unsubscribeRevocations?.();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await closed;
    },
  };
}
