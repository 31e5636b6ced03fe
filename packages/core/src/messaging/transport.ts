/**
 * The MQTT transport: cast (QoS 1, at least once), call (correlation id + reply topic in the payload, timeout,
 * AbortSignal), handlers validated by zod, liveness (retained birth + last will), and reconnection that we
 * drive ourselves: MQTT.js's fixed `reconnectPeriod` is off and every connection attempt is a fresh client,
 * scheduled with jittered exponential back-off. While offline, casts wait in a bounded outbox and calls fail
 * with NotConnectedError after a bounded wait; every publish is guarded by a timeout because MQTT.js's own
 * promise can stay pending forever on a dead connection.
 */
import { randomUUID } from 'node:crypto';
import { connect, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import * as z from 'zod';
import { backoffDelay } from './backoff.js';
import { DedupeWindow } from './dedupe.js';
import {
  type CallEnvelope,
  type CastEnvelope,
  DEFAULT_MAX_PAYLOAD_BYTES,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  MAX_PACKET_BYTES,
  type RemoteErrorBody,
  type ReplyOutcome,
} from './envelope.js';
import {
  BrokerError,
  CallAbortedError,
  CallTimeoutError,
  MalformedReplyError,
  NotConnectedError,
  OutboxFullError,
  PayloadTooLargeError,
  RemoteCallError,
  TopicForbiddenError,
  TransportClosedError,
} from './errors.js';
import { canPublish, type Identity } from './identity.js';
import { birthMessage, deathMessage, parseStateMessage, type StateMessage } from './liveness.js';
import { type MessagingLogger, RateLimitedLog, silentLogger } from './log.js';
import { HandlerError, type MessageContext, type MethodHandlers, type MethodRegistry } from './registry.js';
import {
  allGuestsTopic,
  parseGuestTopic,
  replyTopic,
  rpcTopic,
  sharedTopic,
  stateTopic,
  topicMatches,
  unshareFilter,
} from './topics.js';

export type MalformedReason =
  | 'too_large'
  | 'not_json'
  | 'schema'
  | 'unknown_method'
  | 'bad_args'
  | 'sender_mismatch'
  | 'bad_reply_to'
  | 'bad_state';

export interface TransportOptions {
  /** `mqtts://host:port`. Guests use `mqtts://10.0.2.2:port` (QEMU user networking's alias of the host loopback). */
  url: string;
  ca: string | Buffer;
  cert: string | Buffer;
  /** PEM private key; never logged. */
  key: string | Buffer;
  identity: Identity;
  /** Defaults to the identity's CN; the brokers enforce clientId = CN. */
  clientId?: string;
  /** Random per process start by default. */
  bootId?: string;
  /** 'auto' (default) tries MQTT 5 and falls back to 3.1.1 (aedes), then keeps what worked. */
  protocolVersion?: 4 | 5 | 'auto';
  /** Persistent session (default false = persistent): QoS 1 messages for a briefly absent client wait on the broker. */
  clean?: boolean;
  /** MQTT 5 session expiry for persistent sessions (default 1 day). */
  sessionExpirySec?: number;
  keepaliveSec?: number;
  /** Per connection attempt (default 10 s). */
  connectTimeoutMs?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  /** How long a call started while offline waits for the connection before NotConnectedError (default 3 s). */
  connectWaitMs?: number;
  /** Guard on every publish/subscribe round trip (default 10 s). */
  operationTimeoutMs?: number;
  /** Casts kept while offline (default 1000); beyond it, cast rejects with OutboxFullError. */
  outboxLimit?: number;
  maxPayloadBytes?: number;
  /** Time to live of casts (default 5 min); a call's is its timeout. */
  defaultTtlMs?: number;
  defaultCallTimeoutMs?: number;
  /** Guests: publish a retained birth and register a retained death will on the state topic (default true). */
  liveness?: boolean;
  /** Override the detection of shared subscriptions (default: MQTT 5 CONNACK says they are available). */
  sharedSubscriptions?: boolean;
  dedupe?: { capacity?: number; maxAgeMs?: number };
  logger?: MessagingLogger;
}

export interface RpcCallOptions<R extends z.ZodType | undefined = undefined> {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Validates the reply's result (MalformedReplyError when it does not match). */
  result?: R;
}

export interface HandleOptions {
  /** Split this filter between several processes with a `$share/<group>/` subscription where the broker can. */
  share?: string;
}

export interface TransportMetrics {
  connected: boolean;
  protocolVersion: 4 | 5 | undefined;
  sharedSubscriptions: boolean;
  received: number;
  malformed: number;
  malformedByReason: Partial<Record<MalformedReason, number>>;
  duplicates: number;
  unmatchedReplies: number;
  handlerErrors: number;
  outbox: number;
  outboxExpired: number;
  reconnects: number;
  pendingCalls: number;
}

export type ConnectionStatus = 'connecting' | 'connected' | 'offline' | 'closed';

interface Outgoing {
  topic: string;
  payload: Buffer;
  retain: boolean;
  ttlMs: number;
  queuedAt: number;
  responseTopic?: string;
  correlationId?: string;
}

interface Subscription {
  filter: string;
  share?: string;
  registry?: MethodRegistry;
  handlers?: MethodHandlers<MethodRegistry>;
  onState?: (guestId: string, message: StateMessage, topic: string) => void;
}

interface PendingCall {
  method: string;
  target: string;
  resolve: (outcome: ReplyOutcome) => void;
}

const positiveMs = z.number().int().positive().optional();
/** Checks the options people get wrong (the rest is typed); errors name the field and the rule. */
const TransportOptionsCheck = z.object({
  url: z.string().regex(/^mqtts?:\/\/[^/\s]+:\d+\/?$/, 'url: mqtts://host:port'),
  protocolVersion: z.union([z.literal(4), z.literal(5), z.literal('auto')]).optional(),
  keepaliveSec: z.number().int().min(0).max(65_535).optional(),
  connectTimeoutMs: positiveMs,
  connectWaitMs: z.number().int().min(0).optional(),
  operationTimeoutMs: positiveMs,
  outboxLimit: z.number().int().min(0).optional(),
  maxPayloadBytes: positiveMs,
  defaultTtlMs: positiveMs,
  defaultCallTimeoutMs: positiveMs,
});

export class MqttTransport {
  readonly identity: Identity;
  readonly bootId: string;
  readonly clientId: string;
  private readonly opts: TransportOptions;
  private readonly logger: MessagingLogger;
  private readonly rateLimited: RateLimitedLog;
  private readonly dedupe: DedupeWindow;
  private readonly maxPayload: number;
  private client: MqttClient | undefined;
  private status: ConnectionStatus = 'connecting';
  private protocol: 4 | 5;
  private protocolPinned: boolean;
  private shared = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private readonly outbox: Outgoing[] = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly pending = new Map<string, PendingCall>();
  private readonly readyWaiters = new Set<() => void>();
  private readonly statusListeners = new Set<(status: ConnectionStatus) => void>();
  private readonly malformedListeners = new Set<(reason: MalformedReason, topic: string, detail: string) => void>();
  private lastError: Error | undefined;
  private readonly counters = {
    received: 0,
    malformed: 0,
    duplicates: 0,
    unmatchedReplies: 0,
    handlerErrors: 0,
    outboxExpired: 0,
    reconnects: 0,
  };
  private readonly malformedByReason: Partial<Record<MalformedReason, number>> = {};

  constructor(options: TransportOptions) {
    const checked = TransportOptionsCheck.safeParse(options);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw new TypeError(`transport options: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
    }
    this.opts = options;
    this.identity = options.identity;
    this.bootId = options.bootId ?? randomUUID();
    this.clientId = options.clientId ?? options.identity.cn;
    this.logger = (options.logger ?? silentLogger()).child({
      component: 'mqtt-transport',
      identity: options.identity.cn,
      bootId: this.bootId,
    });
    this.rateLimited = new RateLimitedLog(this.logger);
    this.dedupe = new DedupeWindow(options.dedupe?.capacity, options.dedupe?.maxAgeMs);
    this.maxPayload = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    const version = options.protocolVersion ?? 'auto';
    this.protocol = version === 4 ? 4 : 5;
    this.protocolPinned = version !== 'auto';
    if (this.identity.role === 'guest') this.subscriptions.push({ filter: rpcTopic(this.identity.guestId) });
    else this.subscriptions.push({ filter: allGuestsTopic('reply') });
    this.connectOnce();
  }

  // ---- public API ---------------------------------------------------------------------------------------

  get connected(): boolean {
    return this.status === 'connected';
  }

  get connectionStatus(): ConnectionStatus {
    return this.status;
  }

  /** Resolves once connected (subscriptions restored); rejects with NotConnectedError after `timeoutMs`. */
  async waitUntilConnected(timeoutMs = this.opts.connectWaitMs ?? 3000): Promise<void> {
    if (this.status === 'closed') throw new TransportClosedError();
    if (this.status === 'connected') return;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.readyWaiters.delete(done);
        reject(
          new NotConnectedError(
            `not connected to ${this.opts.url} within ${timeoutMs} ms${this.lastError ? `: ${this.lastError.message}` : ''}`,
            { cause: this.lastError },
          ),
        );
      }, timeoutMs);
      this.readyWaiters.add(done);
    });
  }

  onStatus(listener: (status: ConnectionStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  onMalformed(listener: (reason: MalformedReason, topic: string, detail: string) => void): () => void {
    this.malformedListeners.add(listener);
    return () => this.malformedListeners.delete(listener);
  }

  metrics(): TransportMetrics {
    return {
      ...this.counters,
      connected: this.connected,
      protocolVersion: this.connected ? this.protocol : undefined,
      sharedSubscriptions: this.shared,
      malformedByReason: { ...this.malformedByReason },
      outbox: this.outbox.length,
      pendingCalls: this.pending.size,
    };
  }

  /**
   * Fire and forget (QoS 1). `target` is a guest id (→ its rpc topic) or a full topic. Resolves once the broker
   * acknowledged it or it was queued in the offline outbox; rejects with OutboxFullError when the outbox is full.
   */
  async cast(target: string, method: string, args: unknown, options: { ttlMs?: number } = {}): Promise<void> {
    this.assertOpen();
    const topic = this.resolveTarget(target);
    const ttlMs = options.ttlMs ?? this.opts.defaultTtlMs ?? 300_000;
    const envelope: CastEnvelope = { ...this.header(ttlMs), kind: 'cast', method, args };
    await this.send({ topic, payload: this.encode(envelope), retain: false, ttlMs, queuedAt: Date.now() });
  }

  /**
   * Request/response. Rejects with CallTimeoutError when no reply comes in time (absent guest), NotConnectedError
   * when offline beyond the bounded wait, CallAbortedError on `signal`, RemoteCallError when the handler failed.
   */
  async call<R extends z.ZodType | undefined = undefined>(
    target: string,
    method: string,
    args: unknown,
    options: RpcCallOptions<R> = {},
  ): Promise<R extends z.ZodType ? z.infer<R> : unknown> {
    this.assertOpen();
    const topic = this.resolveTarget(target);
    const timeoutMs = options.timeoutMs ?? this.opts.defaultCallTimeoutMs ?? 30_000;
    const replyTo = this.replyTopicFor(topic);
    const correlationId = randomUUID();
    const envelope: CallEnvelope = { ...this.header(timeoutMs), kind: 'call', method, args, correlationId, replyTo };
    const payload = this.encode(envelope);
    const started = Date.now();
    if (options.signal?.aborted) throw new CallAbortedError(method, topic, options.signal.reason);

    const outcome = await new Promise<ReplyOutcome>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(correlationId);
        fn();
      };
      const timer = setTimeout(() => finish(() => reject(new CallTimeoutError(method, topic, timeoutMs))), timeoutMs);
      const onAbort = () => finish(() => reject(new CallAbortedError(method, topic, options.signal?.reason)));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(correlationId, {
        method,
        target: topic,
        resolve: (o) => finish(() => resolve(o)),
      });
      const wait = Math.min(this.opts.connectWaitMs ?? 3000, timeoutMs);
      this.waitUntilConnected(wait)
        .then(() =>
          this.send(
            {
              topic,
              payload,
              retain: false,
              ttlMs: timeoutMs,
              queuedAt: started,
              responseTopic: replyTo,
              correlationId,
            },
            true,
          ),
        )
        .catch((error: unknown) => finish(() => reject(error)));
    });
    if (!outcome.ok)
      throw new RemoteCallError(method, outcome.error.code, outcome.error.message, outcome.error.details);
    if (options.result) {
      const parsed = options.result.safeParse(outcome.result);
      if (!parsed.success) {
        throw new MalformedReplyError(`reply to ${method}: result does not match its schema`, { cause: parsed.error });
      }
      return parsed.data as R extends z.ZodType ? z.infer<R> : unknown;
    }
    return outcome.result as R extends z.ZodType ? z.infer<R> : unknown;
  }

  /**
   * Serves `registry`'s methods on messages matching `filter` (MQTT wildcards allowed). Args are validated with the
   * method's schema before the handler runs; unknown methods and bad args are rejected, counted and (for calls)
   * answered with an error. Resolves once subscribed (or immediately while offline: subscribed on connect).
   */
  async handle<R extends MethodRegistry>(
    filter: string,
    registry: R,
    handlers: MethodHandlers<R>,
    options: HandleOptions = {},
  ): Promise<() => Promise<void>> {
    return this.addSubscription({
      filter,
      share: options.share,
      registry,
      handlers: handlers as MethodHandlers<MethodRegistry>,
    });
  }

  /** Services: follows the retained birth/will messages of every guest (or of the filter given). */
  async watchState(
    listener: (guestId: string, message: StateMessage, topic: string) => void,
    filter = allGuestsTopic('state'),
  ): Promise<() => Promise<void>> {
    return this.addSubscription({ filter, onState: listener });
  }

  /** Publishes a raw retained or plain message (QoS 1), e.g. for tools; subject to the broker's ACL. */
  async publishRaw(topic: string, payload: Buffer | string, options: { retain?: boolean } = {}): Promise<void> {
    this.assertOpen();
    if (!canPublish(this.identity, topic)) throw new TopicForbiddenError(topic);
    const buffer = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (buffer.byteLength > this.maxPayload) throw new PayloadTooLargeError(buffer.byteLength, this.maxPayload);
    await this.send({
      topic,
      payload: buffer,
      retain: options.retain ?? false,
      ttlMs: this.opts.defaultTtlMs ?? 300_000,
      queuedAt: Date.now(),
    });
  }

  /** Closes the connection. Guests publish their death first (a clean DISCONNECT suppresses the will). */
  async close(options: { publishDeath?: boolean } = {}): Promise<void> {
    if (this.status === 'closed') return;
    const client = this.client;
    // A connection the broker drops meanwhile (e.g. a revoked guest) acknowledges nothing: stop waiting then.
    const lost = new Promise<void>((resolve) => {
      if (!client?.connected) resolve();
      else client.once('close', () => resolve());
    });
    if (
      client &&
      this.status === 'connected' &&
      this.identity.role === 'guest' &&
      this.livenessEnabled() &&
      options.publishDeath !== false
    ) {
      const death = Buffer.from(JSON.stringify(deathMessage(this.identity.guestId, this.bootId)));
      await Promise.race([
        this.guarded(
          client.publishAsync(stateTopic(this.identity.guestId), death, { qos: 1, retain: true }),
          'publish death',
        ),
        lost,
      ]).catch(() => undefined);
    }
    this.setStatus('closed');
    clearTimeout(this.reconnectTimer);
    for (const [id, call] of this.pending) {
      this.pending.delete(id);
      call.resolve({ ok: false, error: { code: 'TRANSPORT_CLOSED', message: 'transport closed before the reply' } });
    }
    this.client = undefined;
    if (client) {
      await Promise.race([this.guarded(client.endAsync(false), 'disconnect'), lost.then(() => client.end(true))]).catch(
        () => client.end(true),
      );
    }
  }

  // ---- connection management ----------------------------------------------------------------------------

  private livenessEnabled(): boolean {
    return this.opts.liveness ?? this.identity.role === 'guest';
  }

  private connectOnce(): void {
    if (this.status === 'closed') return;
    const version = this.protocol;
    const clean = this.opts.clean ?? false;
    const options: IClientOptions = {
      clientId: this.clientId,
      ca: this.opts.ca,
      cert: this.opts.cert,
      key: this.opts.key,
      rejectUnauthorized: true,
      protocolVersion: version,
      clean,
      keepalive: this.opts.keepaliveSec ?? 30,
      connectTimeout: this.opts.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      // mqtt-packet's cache of every 16-bit number as a Buffer (7 MiB, built on the first packet) is worth it
      // for the control plane's traffic, not for a guest's few messages. The flag is process-wide in MQTT.js.
      ...(this.identity.role === 'guest' ? { writeCache: false } : {}),
    };
    // MQTT 5 lets us tell the broker the largest packet we take (3.1.1 cannot; the broker's own limit holds there).
    if (version === 5) {
      options.properties = {
        maximumPacketSize: MAX_PACKET_BYTES,
        ...(!clean && { sessionExpiryInterval: this.opts.sessionExpirySec ?? 86_400 }),
      };
    }
    if (this.identity.role === 'guest' && this.livenessEnabled()) {
      options.will = {
        topic: stateTopic(this.identity.guestId),
        payload: Buffer.from(JSON.stringify(deathMessage(this.identity.guestId, this.bootId))),
        qos: 1,
        retain: true,
      };
    }
    const client = connect(this.opts.url, options);
    this.client = client;
    // Small request/reply messages: without TCP_NODELAY, Nagle + delayed ACKs add ~40 ms per hop.
    (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
    let gotConnack = false;
    client.on('connect', (connack) => {
      gotConnack = true;
      if (this.client !== client) return;
      this.protocol = version;
      this.protocolPinned = true;
      this.shared =
        this.opts.sharedSubscriptions ?? (version === 5 && connack.properties?.sharedSubscriptionAvailable !== false);
      this.onConnected(client).catch((error: unknown) => {
        this.logger.warn({ err: error }, 'connection setup failed; reconnecting');
        client.end(true);
      });
    });
    client.on('message', (topic, payload) => {
      if (this.client !== client) return;
      try {
        this.onMessage(topic, payload);
      } catch (error) {
        // Nothing a peer sends may crash the process.
        this.rateLimited.warn('onMessage', { err: error, topic }, 'message handling failed');
      }
    });
    client.on('error', (error) => {
      this.lastError = error;
      this.logger.debug({ err: error }, 'mqtt client error');
    });
    client.on('close', () => {
      if (this.client !== client) return;
      let retryAtOnce = false;
      if (!gotConnack && !this.protocolPinned && !isNetworkLevel(this.lastError)) {
        // A broker that speaks only 3.1.1 (aedes) refuses an MQTT 5 CONNECT: try the other version, at once.
        this.protocol = this.protocol === 5 ? 4 : 5;
        retryAtOnce = this.protocol === 4;
      }
      this.onDisconnected(client, retryAtOnce);
    });
  }

  private async onConnected(client: MqttClient): Promise<void> {
    this.attempt = 0;
    this.logger.info({ protocolVersion: this.protocol, sharedSubscriptions: this.shared }, 'connected');
    for (const sub of this.subscriptions) await this.subscribeOn(client, sub);
    if (this.identity.role === 'guest' && this.livenessEnabled()) {
      const birth = Buffer.from(JSON.stringify(birthMessage(this.identity.guestId, this.bootId)));
      await this.guarded(
        client.publishAsync(stateTopic(this.identity.guestId), birth, { qos: 1, retain: true }),
        'publish birth',
      );
    }
    if (this.client !== client || this.isClosed()) return;
    this.setStatus('connected');
    for (const waiter of [...this.readyWaiters]) waiter();
    this.flushOutbox();
  }

  private onDisconnected(client: MqttClient, retryAtOnce = false): void {
    client.removeAllListeners('message');
    client.on('error', () => undefined);
    client.end(true);
    if (this.status === 'closed') return;
    if (this.status === 'connected') this.counters.reconnects++;
    this.setStatus('offline');
    const delay = retryAtOnce ? 0 : backoffDelay(this.attempt++, this.opts.backoff);
    this.logger.info({ delayMs: delay, err: this.lastError?.message }, 'disconnected; reconnecting');
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.setStatus('connecting');
      this.connectOnce();
    }, delay);
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.status === status) return;
    if (this.status === 'closed') return;
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }

  private async subscribeOn(client: MqttClient, sub: Subscription): Promise<void> {
    const topic = sub.share && this.shared ? sharedTopic(sub.share, sub.filter) : sub.filter;
    const granted = await this.guarded(client.subscribeAsync(topic, { qos: 1 }), `subscribe ${topic}`);
    const refused = granted.find((g) => g.qos !== 0 && g.qos !== 1 && g.qos !== 2);
    if (refused) throw new BrokerError(`broker refused the subscription to ${topic}`);
  }

  private async addSubscription(sub: Subscription): Promise<() => Promise<void>> {
    this.assertOpen();
    this.subscriptions.push(sub);
    const client = this.client;
    if (client && this.status === 'connected') {
      try {
        await this.subscribeOn(client, sub);
      } catch (error) {
        this.subscriptions.splice(this.subscriptions.indexOf(sub), 1);
        throw error;
      }
    }
    return async () => {
      const index = this.subscriptions.indexOf(sub);
      if (index >= 0) this.subscriptions.splice(index, 1);
      const current = this.client;
      if (current && this.status === 'connected' && !this.subscriptions.some((s) => s.filter === sub.filter)) {
        const topic = sub.share && this.shared ? sharedTopic(sub.share, sub.filter) : sub.filter;
        await this.guarded(current.unsubscribeAsync(topic), `unsubscribe ${topic}`).catch(() => undefined);
      }
    };
  }

  // ---- sending --------------------------------------------------------------------------------------------

  private header(ttlMs: number) {
    this.seq += 1;
    return {
      v: 1 as const,
      id: randomUUID(),
      from: this.identity.cn,
      bootId: this.bootId,
      seq: this.seq,
      sentAt: Date.now(),
      ttlMs,
    };
  }

  private encode(envelope: Envelope): Buffer {
    const payload = encodeEnvelope(envelope);
    if (payload.byteLength > this.maxPayload) throw new PayloadTooLargeError(payload.byteLength, this.maxPayload);
    return payload;
  }

  /** A guest id (→ its rpc topic) or a full topic, which this identity must be allowed to publish to. */
  private resolveTarget(target: string): string {
    const topic = target.includes('/') ? target : rpcTopic(target);
    if (!canPublish(this.identity, topic)) throw new TopicForbiddenError(topic);
    return topic;
  }

  private replyTopicFor(topic: string): string {
    if (this.identity.role === 'guest') return rpcTopic(this.identity.guestId);
    const parsed = parseGuestTopic(topic);
    if (!parsed) throw new Error(`a service can only call guest topics (got ${topic})`);
    return replyTopic(parsed.guestId);
  }

  /**
   * Publishes at QoS 1, or queues in the outbox while offline. A message whose publish is cut by a disconnect goes
   * back to the outbox and is sent again after the reconnect (receivers drop the duplicate by message id).
   */
  private async send(message: Outgoing, isCall = false): Promise<void> {
    const client = this.client;
    if (!client || this.status !== 'connected') {
      if (isCall) throw new NotConnectedError(`not connected to ${this.opts.url}`);
      this.enqueue(message);
      return;
    }
    try {
      await this.guarded(client.publishAsync(message.topic, message.payload, this.publishOptions(message)), 'publish');
    } catch (error) {
      if (this.isClosed()) throw new TransportClosedError();
      // An MQTT 5 PUBACK with a failure reason code (e.g. 0x87 not authorized): sending again would not help.
      const reason = (error as { code?: unknown }).code;
      if (typeof reason === 'number' && reason >= 0x80) {
        throw new BrokerError(`broker refused the publish to ${message.topic} (reason 0x${reason.toString(16)})`);
      }
      this.logger.debug({ err: error, topic: message.topic }, 'publish not acknowledged; requeued');
      this.enqueue(message);
    }
  }

  private publishOptions(message: Outgoing): IClientPublishOptions {
    const options: IClientPublishOptions = { qos: 1, retain: message.retain };
    if (this.protocol === 5) {
      const remaining = message.ttlMs - (Date.now() - message.queuedAt);
      options.properties = { messageExpiryInterval: Math.max(1, Math.ceil(remaining / 1000)) };
      if (message.responseTopic) options.properties.responseTopic = message.responseTopic;
      if (message.correlationId) options.properties.correlationData = Buffer.from(message.correlationId);
    }
    return options;
  }

  private enqueue(message: Outgoing): void {
    const limit = this.opts.outboxLimit ?? 1000;
    if (this.outbox.length >= limit) throw new OutboxFullError(limit);
    this.outbox.push(message);
  }

  private flushOutbox(): void {
    const queued = this.outbox.splice(0, this.outbox.length);
    const now = Date.now();
    for (const message of queued) {
      if (now - message.queuedAt >= message.ttlMs) {
        this.counters.outboxExpired++;
        continue;
      }
      this.send(message).catch((error: unknown) => this.logger.warn({ err: error }, 'outbox message dropped'));
    }
  }

  /** Bounds an MQTT.js promise that may never settle on a dead connection. */
  private guarded<T>(promise: Promise<T>, what: string): Promise<T> {
    const timeoutMs = this.opts.operationTimeoutMs ?? 10_000;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new NotConnectedError(`${what} not acknowledged within ${timeoutMs} ms`)),
        timeoutMs,
      );
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private isClosed(): boolean {
    return this.status === 'closed';
  }

  private assertOpen(): void {
    if (this.status === 'closed') throw new TransportClosedError();
  }

  // ---- receiving ------------------------------------------------------------------------------------------

  private malformed(reason: MalformedReason, topic: string, detail: string): void {
    this.counters.malformed++;
    this.malformedByReason[reason] = (this.malformedByReason[reason] ?? 0) + 1;
    this.rateLimited.warn(`malformed:${reason}`, { reason, topic, detail }, 'rejected a malformed message');
    for (const listener of this.malformedListeners) listener(reason, topic, detail);
  }

  private onMessage(topic: string, payload: Buffer): void {
    this.counters.received++;
    const onTopic = parseGuestTopic(topic);
    if (onTopic?.channel === 'state') {
      const message = parseStateMessage(payload);
      if (!message || message.guestId !== onTopic.guestId) {
        // An empty retained message clears the topic: not malformed, just nothing to report.
        if (payload.byteLength > 0) this.malformed('bad_state', topic, 'state message does not match its schema');
        return;
      }
      for (const sub of this.subscriptions) {
        if (sub.onState && topicMatches(unshareFilter(sub.filter), topic)) sub.onState(onTopic.guestId, message, topic);
      }
      return;
    }
    const decoded = decodeEnvelope(payload, this.maxPayload);
    if (!decoded.ok) {
      this.malformed(decoded.reason, topic, decoded.detail);
      return;
    }
    const envelope = decoded.envelope;
    // Guest-published channels: the broker's ACL guarantees the publisher, so the envelope must agree with it.
    if (onTopic && onTopic.channel !== 'rpc' && envelope.from !== onTopic.guestId) {
      this.malformed('sender_mismatch', topic, `from "${envelope.from}" on ${onTopic.guestId}'s topic`);
      return;
    }
    if (envelope.kind === 'reply') {
      const pending = this.pending.get(envelope.correlationId);
      if (!pending) {
        this.counters.unmatchedReplies++;
        return;
      }
      // Only the guest that was called may answer (its reply topic is the only one it can publish on).
      const calledGuest = parseGuestTopic(pending.target)?.guestId;
      if (onTopic && calledGuest && onTopic.channel === 'reply' && onTopic.guestId !== calledGuest) {
        this.malformed('sender_mismatch', topic, `reply for a call to ${calledGuest} came from ${onTopic.guestId}`);
        return;
      }
      pending.resolve(envelope.outcome);
      return;
    }
    const key = `${envelope.from}|${envelope.id}`;
    const seen = this.dedupe.seen(key);
    if (seen) {
      this.counters.duplicates++;
      if (envelope.kind === 'call' && seen.reply) this.publishReply(seen.reply.topic, seen.reply.payload);
      return;
    }
    this.dispatch(topic, onTopic?.guestId, envelope, key);
  }

  private dispatch(topic: string, guestId: string | undefined, envelope: CallEnvelope | CastEnvelope, key: string) {
    if (envelope.kind === 'call' && this.identity.role === 'guest' && !canPublish(this.identity, envelope.replyTo)) {
      this.malformed('bad_reply_to', topic, `reply topic ${envelope.replyTo} is not ours to publish`);
      return;
    }
    const sub = this.subscriptions.find(
      (s) => s.registry && topicMatches(unshareFilter(s.filter), topic) && Object.hasOwn(s.registry, envelope.method),
    );
    const spec = sub?.registry?.[envelope.method];
    const handler = sub?.handlers?.[envelope.method];
    if (!spec || !handler) {
      this.malformed('unknown_method', topic, `method "${envelope.method}"`);
      this.answer(envelope, key, {
        ok: false,
        error: { code: 'UNKNOWN_METHOD', message: `no handler for ${envelope.method}` },
      });
      return;
    }
    const args = spec.args.safeParse(envelope.args);
    if (!args.success) {
      const issue = args.error.issues[0];
      const detail = `${issue?.path.length ? issue.path.join('.') : 'args'}: ${issue?.message ?? 'invalid'}`;
      this.malformed('bad_args', topic, `${envelope.method}: ${detail}`);
      this.answer(envelope, key, { ok: false, error: { code: 'BAD_ARGS', message: detail } });
      return;
    }
    const context: MessageContext = {
      topic,
      kind: envelope.kind,
      method: envelope.method,
      from: envelope.from,
      guestId,
      bootId: envelope.bootId,
      seq: envelope.seq,
      messageId: envelope.id,
      envelope,
    };
    Promise.resolve()
      .then(() => handler(args.data, context))
      .then(
        (result: unknown) => {
          if (spec.result) {
            const checked = spec.result.safeParse(result);
            if (!checked.success) {
              this.counters.handlerErrors++;
              this.logger.error({ method: envelope.method }, 'handler result does not match its schema');
              this.answer(envelope, key, {
                ok: false,
                error: { code: 'BAD_RESULT', message: `${envelope.method} produced an invalid result` },
              });
              return;
            }
            result = checked.data;
          }
          this.answer(envelope, key, { ok: true, result: result ?? null });
        },
        (error: unknown) => {
          this.counters.handlerErrors++;
          const body: RemoteErrorBody =
            error instanceof HandlerError
              ? { code: error.code, message: error.message, details: error.details }
              : {
                  code:
                    typeof (error as { code?: unknown })?.code === 'string'
                      ? (error as { code: string }).code
                      : 'HANDLER_ERROR',
                  message: error instanceof Error ? error.message : String(error),
                };
          this.logger.warn({ method: envelope.method, messageId: envelope.id, code: body.code }, 'handler failed');
          this.answer(envelope, key, { ok: false, error: body });
        },
      )
      .catch((error: unknown) => this.logger.error({ err: error }, 'failed to send a reply'));
  }

  private answer(envelope: CallEnvelope | CastEnvelope, key: string, outcome: ReplyOutcome): void {
    if (envelope.kind !== 'call') return;
    const reply = {
      ...this.header(envelope.ttlMs),
      kind: 'reply' as const,
      correlationId: envelope.correlationId,
      outcome,
    };
    let payload: Buffer;
    try {
      payload = this.encode(reply);
    } catch (error) {
      payload = this.encode({
        ...reply,
        outcome: { ok: false, error: { code: 'RESULT_TOO_LARGE', message: String((error as Error).message) } },
      });
    }
    this.dedupe.remember(key, { topic: envelope.replyTo, payload });
    this.publishReply(envelope.replyTo, payload, envelope.ttlMs);
  }

  private publishReply(topic: string, payload: Buffer, ttlMs = 60_000): void {
    this.send({ topic, payload, retain: false, ttlMs, queuedAt: Date.now() }).catch((error: unknown) =>
      this.logger.warn({ err: error, topic }, 'reply dropped'),
    );
  }
}

function isNetworkLevel(error: Error | undefined): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ECONNRESET';
}

/** Creates the transport and starts connecting in the background (see `waitUntilConnected`). */
export function createMqttTransport(options: TransportOptions): MqttTransport {
  return new MqttTransport(options);
}

/** Creates the transport and waits for the first connection; closes it and throws NotConnectedError on failure. */
export async function connectMqttTransport(options: TransportOptions, timeoutMs = 10_000): Promise<MqttTransport> {
  const transport = new MqttTransport(options);
  try {
    await transport.waitUntilConnected(timeoutMs);
  } catch (error) {
    await transport.close({ publishDeath: false });
    throw error;
  }
  return transport;
}
