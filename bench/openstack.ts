/**
 * provider-openstack benchmark: N servers created and deleted with bounded concurrency through one provider
 * (one token), on the real test cloud's Nova fake driver (scripts/setup/60-openstack.sh, cloud `corral-demo`).
 * If that cloud is not reachable it runs against the in-process fake cloud and says so in `setup`.
 *
 * Each worker: create (POST /servers) → wait ACTIVE (polling) → delete → wait for the 404.
 * Reports wall time, servers/s and HTTP requests/s, per-phase latencies, and the client's own overhead per
 * request: the time our code adds around got's measured network exchange (token, JSON, zod, error mapping).
 *
 *   npx tsx bench/openstack.ts            BENCH_SERVERS=100 BENCH_CONCURRENCY=4 BENCH_NETWORK=none BENCH_CLOUD=corral-demo
 */
import { createOpenStackProvider, type RequestMetric } from '@corral/provider-openstack';
import { FakeCloud } from '../packages/provider-openstack/src/testing/fake-cloud.js';

const servers = Number(process.env.BENCH_SERVERS ?? 100);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
// "none" spares Neutron port binding and its callbacks into Nova: the benchmark is about this client.
const network = process.env.BENCH_NETWORK ?? 'none';
const cloudName = process.env.BENCH_CLOUD ?? 'corral-demo';
/** No new server is started after this; the run reports what finished (a sick cloud must not hang it). */
const deadlineMs = Number(process.env.BENCH_DEADLINE_S ?? 900) * 1000;

async function realCloudUp(): Promise<boolean> {
  try {
    const [keystone, nova] = await Promise.all([
      fetch('http://127.0.0.1:5000/v3', { signal: AbortSignal.timeout(3000) }),
      fetch('http://127.0.0.1:8774/', { signal: AbortSignal.timeout(3000) }),
    ]);
    return keystone.ok && nova.ok;
  } catch {
    return false;
  }
}

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
const summary = (values: number[]) => ({
  p50: round(percentile(values, 50)),
  p95: round(percentile(values, 95)),
  max: round(Math.max(0, ...values)),
});

async function main() {
  const real = await realCloudUp();
  const fake = real ? undefined : await new FakeCloud({ activeAfterMs: 300, deleteAfterMs: 100 }).start();
  const metrics: RequestMetric[] = [];
  const provider = createOpenStackProvider({
    ...(fake
      ? {
          auth: {
            authUrl: fake.authUrl,
            username: 'demo',
            password: 'secret',
            userDomainName: 'Default',
            projectName: 'demo',
            projectDomainName: 'Default',
          },
        }
      : { cloud: cloudName }),
    defaultNetwork: network,
    pollIntervalMs: real ? 500 : 50,
    timeoutMs: 30_000,
    onRequest: (metric) => metrics.push(metric),
  });
  await provider.connect();
  const runId = Date.now().toString(36);
  const phases = { createMs: [] as number[], activeMs: [] as number[], deleteMs: [] as number[] };
  const failures: string[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < servers && performance.now() - started < deadlineMs) {
      const index = next++;
      let id: string | undefined;
      try {
        let t = performance.now();
        const server = await provider.createServer({
          name: `bench-${runId}-${index}`,
          idempotencyKey: `bench-${runId}-${index}`,
          flavor: 'm1.tiny',
          image: 'corral-test-image',
          bootstrap: { userData: '#cloud-config\n', configDrive: false },
        });
        id = server.id;
        phases.createMs.push(performance.now() - t);
        t = performance.now();
        await provider.waitForServer(id, { timeoutMs: 180_000 });
        phases.activeMs.push(performance.now() - t);
        t = performance.now();
        await provider.deleteServer(id);
        phases.deleteMs.push(performance.now() - t);
        id = undefined;
      } catch (error) {
        failures.push(String(error));
        if (id) await provider.deleteServer(id).catch(() => undefined);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - started;
  await fake?.stop();

  const answered = metrics.filter((metric) => metric.networkMs !== undefined);
  const overhead = answered.map((metric) => metric.totalMs - (metric.networkMs ?? 0));
  const byCall: Record<string, number> = {};
  for (const metric of metrics) {
    const path = new URL(metric.url).pathname.replace(/[0-9a-f-]{36}/g, '{id}');
    byCall[`${metric.method} ${path}`] = (byCall[`${metric.method} ${path}`] ?? 0) + 1;
  }
  const result = {
    setup: `${real ? `real one-node OpenStack (Nova fake driver), cloud ${cloudName}` : 'in-process fake cloud (real cloud not reachable)'}; ${servers} servers, concurrency ${concurrency}, network ${network}, one token, create → ACTIVE → delete → 404`,
    anchor: 'client overhead per request vs got network time',
    target: real ? 'real' : 'fake',
    servers,
    concurrency,
    started: next,
    ok: phases.deleteMs.length,
    failed: failures.length,
    stoppedAtDeadline: next < servers,
    authentications: provider.client.session.authentications,
    wallSeconds: round(wallMs / 1000),
    serversPerSecond: round(phases.deleteMs.length / (wallMs / 1000), 3),
    requests: metrics.length,
    requestsPerSecond: round(metrics.length / (wallMs / 1000)),
    phasesMs: {
      create: summary(phases.createMs),
      untilActive: summary(phases.activeMs),
      deleteUntil404: summary(phases.deleteMs),
    },
    requestMs: summary(answered.map((metric) => metric.totalMs)),
    clientOverheadMs: {
      mean: round(overhead.reduce((sum, value) => sum + value, 0) / Math.max(1, overhead.length), 3),
      ...summary(overhead),
    },
    calls: byCall,
    firstFailures: failures.slice(0, 3),
  };
  console.log(JSON.stringify(result));
}

await main();
