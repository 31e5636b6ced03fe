/**
 * The control-plane test environment (test/control-plane/harness.ts) with a broker that can be restarted:
 * the harness's aedes is swapped, before anything connects, for one on the same port whose handle we keep, so
 * a restart reuses its persistence (sessions, retained births) as a real deployment's would.
 */
import { type BrokerHandle, issueServerCertificate, type Store, startBroker } from '@corral/core';
import { startEnv, type TestEnv } from '../control-plane/harness.js';

export interface FaultEnv extends TestEnv {
  /** Stops the broker, waits `downMs`, starts it again on the same port with the same persistence. */
  restartBroker(downMs?: number): Promise<void>;
}

export async function startFaultEnv(options: { store?: Store } = {}): Promise<FaultEnv> {
  const env = await startEnv(options);
  const port = Number(new URL(env.broker.url).port);
  await env.broker.stop();
  const server = await issueServerCertificate(env.ca);
  const tls = { ca: env.ca.certPem, cert: server.certPem, key: server.keyPem };
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
