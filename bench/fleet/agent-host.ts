/**
 * Child process of the fleet benchmark: hosts a slice of the simulated agents. Each agent is the real core
 * transport (`createMqttTransport`, as corral-agent uses it) with its own guest certificate (CN = guest id, so
 * the broker's ACL confines it to its own topics), a persistent session, a retained birth and a death will,
 * a subscription to its rpc topic, and the agent's heartbeat cast on its own conductor topic.
 * Agent i lives in host i mod hosts; the certificates are issued here (spreading the signing over processes).
 *
 * One shortcut, so that thousands of agents fit in a few processes on two cores: node:tls builds a new secure
 * context (parsing CA, certificate and key: ~1-3 ms here) for every connection attempt; a real agent pays that
 * on its own guest's CPU. Here `tls.createSecureContext` is memoised per certificate and filled when the
 * certificate is issued (before any timing), so each agent still presents its own certificate and key, but
 * they are parsed once. Likewise the client's check of the broker's name (`checkServerIdentity` on
 * `getPeerCertificate(true)`, which converts the whole chain to objects and was the simulator's top cost)
 * converts each distinct server certificate once, keyed by its SHA-256 fingerprint; OpenSSL still verifies
 * the chain of every connection.
 */
import tls, { type PeerCertificate, TLSSocket } from 'node:tls';
import { type CertificateAuthority, loadCa } from '@corral/core';
import { conductorTopic, createMqttTransport, guestIdentity, type MqttTransport } from '@corral/core/messaging';
import { issueGuestCertificate } from '@corral/core/pki';
import { childConfig, type Message, serve, sleep } from './ipc.js';

interface HostConfig {
  caCertPem: string;
  caKeyPem: string;
  host: number;
  hosts: number;
}

interface SimAgent {
  index: number;
  id: string;
  cert?: string;
  key?: string;
  transport?: MqttTransport;
  reconnectsMark: number;
}

const createSecureContext = tls.createSecureContext;
const contexts = new Map<string, tls.SecureContext>();
tls.createSecureContext = (options?: tls.SecureContextOptions) => {
  const cert = options?.cert;
  if (typeof cert !== 'string') return createSecureContext(options);
  let context = contexts.get(cert);
  if (!context) {
    context = createSecureContext(options);
    contexts.set(cert, context);
  }
  return context;
};

const getPeerCertificate = TLSSocket.prototype.getPeerCertificate;
const peers = new Map<string, PeerCertificate>();
TLSSocket.prototype.getPeerCertificate = function (this: TLSSocket, detailed?: boolean) {
  if (!detailed) return getPeerCertificate.call(this, detailed);
  if (peers.size === 0) {
    // Once node has built an X509Certificate for a socket, its getPeerCertificate answers `{}` (node 20), so the
    // first connection converts with the original and the others are looked up by fingerprint.
    const peer = getPeerCertificate.call(this, true);
    peers.set(peer.fingerprint256, peer);
    return peer;
  }
  // An unknown server certificate gets `{}`: checkServerIdentity then refuses it (fails closed).
  return peers.get(this.getPeerX509Certificate()?.fingerprint256 ?? '') ?? ({} as PeerCertificate);
} as typeof getPeerCertificate;

const config = childConfig<HostConfig>();
const ca: CertificateAuthority = await loadCa({ certPem: config.caCertPem, keyPem: config.caKeyPem });
const agents: SimAgent[] = [];
let active: SimAgent[] = [];
let beats:
  | { timer: NodeJS.Timeout; sent: number; acked: number; failed: number; inflight: Set<Promise<void>> }
  | undefined;

function ownAgents(n: number): SimAgent[] {
  for (let index = config.host + agents.length * config.hosts; index < n; index += config.hosts) {
    agents.push({ index, id: `agent-${index}`, reconnectsMark: 0 });
  }
  return agents.filter((agent) => agent.index < n);
}

async function issue(message: Message) {
  const started = performance.now();
  let issued = 0;
  for (const agent of ownAgents(message.n as number)) {
    if (agent.cert) continue;
    const cert = await issueGuestCertificate(ca, { guestId: agent.id });
    agent.cert = cert.certPem;
    agent.key = cert.keyPem;
    tls.createSecureContext({ ca: config.caCertPem, cert: agent.cert, key: agent.key });
    issued++;
  }
  return { issued, seconds: (performance.now() - started) / 1000 };
}

/** Connects this host's agents below n, `concurrency` handshakes in flight; resolves when all are connected. */
async function connectAgents(message: Message) {
  active = ownAgents(message.n as number);
  const concurrency = message.concurrency as number;
  let next = 0;
  let failed = 0;
  // One deadline for the whole fleet: agents not started by then count as not connected.
  const deadline = Date.now() + (message.timeoutMs as number);
  const worker = async () => {
    while (next < active.length && Date.now() < deadline) {
      const agent = active[next++] as SimAgent;
      agent.transport = createMqttTransport({
        url: message.url as string,
        ca: config.caCertPem,
        cert: agent.cert as string,
        key: agent.key as string,
        identity: guestIdentity(agent.id),
        protocolVersion: message.protocolVersion as 4 | 5,
        connectTimeoutMs: 10_000,
      });
      await agent.transport.waitUntilConnected(Math.max(1, deadline - Date.now())).catch(() => {
        failed++;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, active.length) }, worker));
  return { at: Date.now(), agents: active.length, connected: connectedCount(), failed };
}

function connectedCount(): number {
  return active.filter((agent) => agent.transport?.connected).length;
}

/** One heartbeat per agent every `intervalMs`, spread evenly over the interval in 100 ms ticks. */
function startBeats(message: Message) {
  const intervalMs = message.intervalMs as number;
  const perTick = active.length / (intervalMs / 100);
  let owed = 0;
  let cursor = 0;
  const state = {
    sent: 0,
    acked: 0,
    failed: 0,
    inflight: new Set<Promise<void>>(),
    timer: setInterval(() => {
      owed += perTick;
      for (; owed >= 1; owed--) {
        const agent = active[cursor++ % active.length] as SimAgent;
        state.sent++;
        const cast = (agent.transport as MqttTransport)
          .cast(conductorTopic(agent.id), 'heartbeat', { instanceId: agent.id, serviceStatus: 'HEALTHY' })
          .then(
            () => {
              state.acked++;
            },
            () => {
              state.failed++;
            },
          );
        state.inflight.add(cast);
        void cast.finally(() => state.inflight.delete(cast));
      }
    }, 100),
  };
  beats = state;
  return {};
}

async function stopBeats() {
  if (!beats) return { sent: 0, acked: 0, failed: 0 };
  clearInterval(beats.timer);
  await Promise.allSettled([...beats.inflight]);
  const { sent, acked, failed } = beats;
  beats = undefined;
  return { sent, acked, failed };
}

/** Before a broker restart: remember each transport's reconnect count, so "back" means a new session. */
function markReconnects() {
  for (const agent of active) agent.reconnectsMark = agent.transport?.metrics().reconnects ?? 0;
  return {};
}

/** Resolves when every agent went through a reconnect and is connected again, or at the cap. */
async function watchReconnect(message: Message) {
  const deadline = Date.now() + (message.capMs as number);
  let pending = active;
  for (;;) {
    pending = pending.filter((agent) => {
      const transport = agent.transport;
      return !(transport?.connected && transport.metrics().reconnects > agent.reconnectsMark);
    });
    if (pending.length === 0 || Date.now() >= deadline) break;
    await sleep(100);
  }
  return { at: Date.now(), agents: active.length, back: active.length - pending.length };
}

async function closeAgents() {
  await Promise.all(active.map((agent) => agent.transport?.close({ publishDeath: false }).catch(() => undefined)));
  for (const agent of active) agent.transport = undefined;
  active = [];
  return {};
}

serve({
  issue,
  connect: connectAgents,
  count: () => ({ agents: active.length, connected: connectedCount() }),
  startBeats,
  stopBeats,
  markReconnects,
  watchReconnect,
  close: closeAgents,
});
