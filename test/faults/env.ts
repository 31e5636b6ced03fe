/**
 * The control-plane test environment (test/control-plane/harness.ts) with a broker that can be restarted:
 * the harness's aedes is swapped, before anything connects, for a broker on the same port whose handle we keep,
 * so a restart keeps its persistence (sessions, retained births) as a real deployment's would:
 *   - `aedes` (default): embedded, its persistence handed to the next instance;
 *   - `mosquitto`: a real mosquitto (scripts/setup/20-mosquitto.sh), persistence on disk, MQTT 5.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrokerHandle, type MosquittoHandle, type Store, startBroker, startMosquitto } from '@corral/core';
import { issueServerCertificate } from '@corral/core/pki';
import { startEnv, type TestEnv } from '../control-plane/harness.js';

export type FaultBroker = 'aedes' | 'mosquitto';

export interface FaultEnv extends TestEnv {
  /** Stops the broker, waits `downMs`, starts it again on the same port with the same persistence. */
  restartBroker(downMs?: number): Promise<void>;
}

/** Service names the mosquitto ACL lets in: the harness names its planes control0, control1, … */
const SERVICES = Array.from({ length: 8 }, (_, i) => `control${i}`);

export async function startFaultEnv(options: { store?: Store; broker?: FaultBroker } = {}): Promise<FaultEnv> {
  const env = await startEnv({ store: options.store });
  const port = Number(new URL(env.broker.url).port);
  await env.broker.stop();
  const server = await issueServerCertificate(env.ca);
  const tls = { ca: env.ca.certPem, cert: server.certPem, key: server.keyPem };

  if (options.broker === 'mosquitto') {
    const dir = await mkdtemp(join(tmpdir(), 'corral-faults-mosquitto-'));
    let mosquitto: MosquittoHandle | undefined = await startMosquitto({ dir, port, ...tls, services: SERVICES });
    // Planes started from now on speak MQTT 5 to it (the harness's broker object is what startPlane reads).
    (env.broker as { protocolVersion: 4 | 5 }).protocolVersion = 5;
    env.broker.stop = async () => {
      await mosquitto?.stop();
      mosquitto = undefined;
      await rm(dir, { recursive: true, force: true });
    };
    return Object.assign(env, {
      async restartBroker(downMs = 300) {
        await mosquitto?.stop();
        await new Promise((resolve) => setTimeout(resolve, downMs));
        await mosquitto?.start();
      },
    });
  }

  let handle: BrokerHandle | undefined = await startBroker({ tls, revocations: env.revocations, port });
  env.broker.stop = async () => {
    await handle?.stop();
    handle = undefined;
  };
  return Object.assign(env, {
    async restartBroker(downMs = 300) {
      const persistence = handle?.persistence;
      await handle?.stop();
      handle = undefined;
      await new Promise((resolve) => setTimeout(resolve, downMs));
      handle = await startBroker({ tls, revocations: env.revocations, port, persistence });
    },
  });
}
