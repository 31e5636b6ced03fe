/**
 * Child process of the fleet benchmark: the real core conductor (`createControlPlane` with the `conductor`
 * role only) ingesting into a SQLite store seeded with one instance per simulated agent (instance id = guest
 * id). Reports its own CPU time over a window the benchmark opens and closes, and verifies the ingest:
 * heartbeats received and applied, and instances whose last heartbeat reached the store.
 */
import { join } from 'node:path';
import { createControlPlane, createDefaultCatalog, createSqliteStore, type Store } from '@corral/core';
import { FakeProvider } from '@corral/core/testing';
import pino from 'pino';
import { childConfig, type Message, serve, sleep } from './ipc.js';

interface ConductorConfig {
  url: string;
  ca: string;
  cert: string;
  key: string;
  agents: number;
  dir: string;
  heartbeatSeconds: number;
}

const config = childConfig<ConductorConfig>();
const store = await createSqliteStore({ path: join(config.dir, 'conductor.db') });
const seedStarted = performance.now();
for (let i = 0; i < config.agents; i++) {
  await store.createInstance({
    id: `agent-${i}`,
    name: `agent-${i}`,
    projectId: 'bench',
    provider: 'fake',
    flavor: 'small',
    image: 'corral-guest',
    datastore: { type: 'redis', version: '7' },
    taskStatus: 'NONE',
  });
}
const seedSeconds = (performance.now() - seedStarted) / 1000;

const plane = await createControlPlane({
  store,
  broker: {
    url: config.url,
    serviceName: 'bench',
    caPem: config.ca,
    certPem: config.cert,
    keyPem: config.key,
    protocolVersion: 'auto',
  },
  providers: { fake: new FakeProvider() },
  datastores: createDefaultCatalog(),
  roles: ['conductor'],
  // The sweep must not mark guests FAILED while the broker restarts: this measures ingest, not expiry.
  heartbeat: { intervalSeconds: config.heartbeatSeconds, expiryMs: 3_600_000 },
  logger: pino({ level: 'silent' }),
});
const conductor = plane.conductor;
if (!conductor) throw new Error('control plane started without a conductor');
await plane.transport.waitUntilConnected(30_000);

let mark = { cpu: process.cpuUsage(), at: performance.now(), applied: 0, received: 0 };

async function countHeard(s: Store, agents: number, since: number): Promise<number> {
  let heard = 0;
  let after: string | undefined;
  do {
    const page = await s.listInstances({ projectId: 'bench', limit: 1000, after });
    for (const instance of page.items) {
      const index = Number(instance.id.slice('agent-'.length));
      if (index < agents && instance.serviceStatus === 'HEALTHY' && (instance.lastSeenAt ?? 0) >= since) heard++;
    }
    after = page.nextAfter;
  } while (after);
  return heard;
}

serve(
  {
    startWindow() {
      const { applied, received } = conductor.metrics;
      mark = { cpu: process.cpuUsage(), at: performance.now(), applied, received };
      return {};
    },
    endWindow() {
      const cpu = process.cpuUsage(mark.cpu);
      const seconds = (performance.now() - mark.at) / 1000;
      return {
        seconds,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        applied: conductor.metrics.applied - mark.applied,
        received: conductor.metrics.received - mark.received,
        rss: process.memoryUsage().rss,
      };
    },
    /** Waits (bounded) until `expected` heartbeats arrived, drains the batcher and reads the store back. */
    async verify(message: Message) {
      const expected = message.expected as number;
      const deadline = Date.now() + (message.timeoutMs as number);
      while (conductor.metrics.received < expected && Date.now() < deadline) await sleep(50);
      await conductor.drain();
      const heard = await countHeard(store, config.agents, message.since as number);
      return { ...conductor.metrics, heard };
    },
    async stop() {
      await plane.close();
      await store.close();
      setImmediate(() => process.exit(0));
      return {};
    },
  },
  { seedSeconds },
);
