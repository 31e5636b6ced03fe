/**
 * provider-openstack benchmark on the REAL one-node test cloud (scripts/setup/60-openstack.sh): 100 servers
 * created and deleted through ONE provider (one client, one token), with bounded concurrency, on the Nova
 * fake driver host `corral-fake` (pinned with availability zone `nova:corral-fake`, so a libvirt compute such
 * as `corral-qemu` never gets one).
 *
 * Each worker: createServer (lookup by idempotency key, POST) → wait ACTIVE (GET every 500 ms) → deleteServer
 * (DELETE, GET every 500 ms until 404). It runs in a scratch project of its own (admin role, a quota that
 * cannot bind), so other suites' servers and quotas neither disturb it nor are disturbed; the project and
 * every server with the run's name prefix are removed at the end, also after a failure or Ctrl-C.
 *
 * The client's own overhead per request is measured two ways:
 *  - CPU: `process.cpuUsage()` of this process over the run ÷ HTTP requests sent. The process does nothing
 *    but corral's client (token, URLs, JSON, zod, error mapping, polling) plus got and Node's HTTP stack;
 *    `user` is that code, the rest (`system`) is mostly the kernel's loopback TCP path run inside send().
 *  - Stub: the same create→ACTIVE→delete→404 cycle against an in-process-shaped fake cloud running in a
 *    CHILD process (answers at once), one request at a time: wall and CPU per request of the client alone.
 * `onRequest` also gives, per request, got's wire time (timings.phases.total) vs the time around it.
 *
 * Anchor: openstacksdk (Debian 12's /usr/bin/python3, the SDK behind the `openstack` CLI) doing the same
 * workload (compute.create_server / wait_for_server / delete_server / wait_for_delete, same concurrency with a
 * thread pool, same poll interval) on the same cloud, and its CPU per request counted the same way.
 *
 *   node --import tsx bench/openstack.ts
 *   BENCH_SERVERS=100 BENCH_CONCURRENCY=8 BENCH_HOST=corral-fake BENCH_ANCHOR=1 (0 skips openstacksdk)
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  collect,
  compute,
  createOpenStackProvider,
  identity,
  OpenStackClient,
  type OpenStackProvider,
  type RequestMetric,
} from '@corral/provider-openstack';
import { FakeCloud } from '../packages/provider-openstack/src/testing/fake-cloud.js';

const servers = Number(process.env.BENCH_SERVERS ?? 100);
/**
 * Chosen by measurement (packages/provider-openstack/README.md, "Benchmark"): 24 servers at 2/4/8/16 in flight
 * gave 0.52/0.55/0.54/0.41 servers/s. nova-api runs 2 processes × 1 thread and the conductor/compute one each,
 * so the cloud saturates at 2-4 servers in flight; 8 only doubles create→ACTIVE latency and at 16 the API
 * queues (wire p50 2.9 s) and throughput drops. 4 is the peak.
 */
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
const host = process.env.BENCH_HOST ?? 'corral-fake';
/**
 * Fewer than `servers` keeps the whole run near 4-5 minutes on the 2-core box; its figures are per server or
 * request. Half runs before corral's run and half after, so a load change on the shared box hits both sides.
 */
const anchorServers = Number(process.env.BENCH_ANCHOR === '0' ? 0 : (process.env.BENCH_ANCHOR_SERVERS ?? 20));
const stubCycles = Number(process.env.BENCH_STUB_CYCLES ?? 300);
const pollMs = 500;
const ADMIN_CLOUD = 'corral-admin';
const FLAVOR = 'm1.tiny';
const IMAGE = 'corral-test-image';

/** Set by Ctrl-C: workers start no new server. */
let stopping = false;

const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}
const latency = (values: number[]) => ({
  p50: round(percentile(values, 50)),
  p99: round(percentile(values, 99)),
  max: round(Math.max(0, ...values)),
});

async function requireCloud(): Promise<void> {
  try {
    const [keystone, nova] = await Promise.all([
      fetch('http://127.0.0.1:5000/v3', { signal: AbortSignal.timeout(5_000) }),
      fetch('http://127.0.0.1:8774/', { signal: AbortSignal.timeout(5_000) }),
    ]);
    if (!keystone.ok || !nova.ok) throw new Error(`keystone ${keystone.status}, nova ${nova.status}`);
  } catch (error) {
    throw new Error(
      `the OpenStack test cloud is not up on 127.0.0.1 (keystone :5000, nova :8774): start it with ` +
        `\`bash scripts/setup/60-openstack.sh\` (${String(error)})`,
    );
  }
}

/** A project of the bench's own: admin role (to pin the host), quotas that cannot bind. */
async function scratchProject(admin: OpenStackClient, runId: string) {
  const keystone = admin.identity();
  const token = await admin.session.tokenDetails();
  const project = await identity.createProject(keystone, {
    name: `corral-bench-${runId}`,
    description: 'bench/openstack.ts scratch project; removed at the end of the run',
  });
  const [role] = await identity.listRoles(keystone, 'admin');
  if (!role) throw new Error('the test cloud has no "admin" role');
  await identity.assignProjectRole(keystone, project.id, token.userId, role.id);
  const nova = await admin.compute();
  const room = servers * 2;
  await compute.updateQuotaSet(nova, project.id, { instances: room, cores: room, ram: room * 1024 });
  return project;
}

/** Deletes every server of the project whose name starts with `prefix` and waits for the 404s. */
async function removeLeftovers(provider: OpenStackProvider, prefix: string): Promise<number> {
  const nova = await provider.client.compute();
  const left = (await collect(compute.listServers(nova, { query: { name: `^${prefix}` } }))).filter((server) =>
    server.name.startsWith(prefix),
  );
  await Promise.all(left.map((server) => provider.deleteServer(server.id).catch(() => undefined)));
  return left.length;
}

interface RunResult {
  wallMs: number;
  ok: number;
  failures: string[];
  createToActiveMs: number[];
  deleteTo404Ms: number[];
  metrics: RequestMetric[];
  /** This process's CPU over the run, µs: user (JS, got, zod, Node's HTTP) and system (socket syscalls). */
  cpu: NodeJS.CpuUsage;
}

/** `count` servers, `limit` at a time: create → ACTIVE → delete → 404, through one provider. */
async function cycle(
  provider: OpenStackProvider,
  metrics: RequestMetric[],
  prefix: string,
  count: number,
  limit: number,
): Promise<RunResult> {
  const createToActiveMs: number[] = [];
  const deleteTo404Ms: number[] = [];
  const failures: string[] = [];
  let next = 0;
  let ok = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const worker = async () => {
    while (next < count && !stopping) {
      const index = next++;
      let id: string | undefined;
      try {
        let t = performance.now();
        const server = await provider.createServer({
          name: `${prefix}${index}`,
          idempotencyKey: `${prefix}${index}`,
          flavor: FLAVOR,
          image: IMAGE,
          network: 'none',
          bootstrap: { userData: '#cloud-config\n' },
        });
        id = server.id;
        await provider.waitForServer(id, { timeoutMs: 180_000 });
        createToActiveMs.push(performance.now() - t);
        t = performance.now();
        await provider.deleteServer(id);
        deleteTo404Ms.push(performance.now() - t);
        id = undefined;
        ok++;
      } catch (error) {
        failures.push(`${prefix}${index}: ${String(error)}`);
        if (id) await provider.deleteServer(id).catch(() => undefined);
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return {
    wallMs: performance.now() - started,
    ok,
    failures,
    createToActiveMs,
    deleteTo404Ms,
    metrics: metrics.splice(0),
    cpu: process.cpuUsage(cpu),
  };
}

function describeRun(run: RunResult) {
  const requests = run.metrics.length;
  const answered = run.metrics.filter((metric) => metric.networkMs !== undefined);
  const aroundWire = answered.map((metric) => metric.totalMs - (metric.networkMs ?? 0));
  const byCall: Record<string, number> = {};
  for (const metric of run.metrics) {
    const path = new URL(metric.url).pathname.replace(/[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{32}/g, '{id}');
    const key = `${metric.method} ${path}`;
    byCall[key] = (byCall[key] ?? 0) + 1;
  }
  return {
    wallSeconds: round(run.wallMs / 1000),
    serversPerSecond: round(run.ok / (run.wallMs / 1000), 3),
    requests,
    requestsPerSecond: round(requests / (run.wallMs / 1000)),
    createToActiveMs: latency(run.createToActiveMs),
    deleteTo404Ms: latency(run.deleteTo404Ms),
    requestWireMs: latency(answered.map((metric) => metric.networkMs ?? 0)),
    clientCpuUsPerRequest: round((run.cpu.user + run.cpu.system) / Math.max(1, requests), 0),
    clientUserCpuUsPerRequest: round(run.cpu.user / Math.max(1, requests), 0),
    /** got's timings vs the whole `once` (headers, JSON parse, metric, log): the part around the wire. */
    aroundWireUsPerRequest: round(
      (1000 * aroundWire.reduce((sum, value) => sum + value, 0)) / Math.max(1, aroundWire.length),
      0,
    ),
    calls: byCall,
  };
}

/** The fake cloud in a child process, so its CPU is not counted as the client's. */
async function startStub(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--stub'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((text) => text.startsWith('STUB '));
      if (line) resolve(line.slice(5).trim());
    });
    child.on('exit', (code) => reject(new Error(`stub exited with ${code}`)));
  });
  return { url, stop: () => child.kill() };
}

async function stubMain(): Promise<void> {
  const fake = await new FakeCloud({ activeAfterMs: 0, deleteAfterMs: 0 }).start();
  process.stdout.write(`STUB ${fake.authUrl}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => fake.stop().then(() => process.exit(0)));
}

/** One request at a time against the instant stub: what a request costs in the client itself. */
async function measureStub() {
  const stub = await startStub();
  try {
    const metrics: RequestMetric[] = [];
    const provider = createOpenStackProvider({
      auth: {
        authUrl: stub.url,
        username: 'demo',
        password: 'secret',
        userDomainName: 'Default',
        projectName: 'demo',
        projectDomainName: 'Default',
      },
      defaultNetwork: 'none',
      pollIntervalMs: 1,
      onRequest: (metric) => metrics.push(metric),
    });
    await cycle(provider, metrics, 'stub-warm-', 30, 1); // JIT, connections, name cache
    const run = await cycle(provider, metrics, 'stub-', stubCycles, 1);
    if (run.failures.length > 0) throw new Error(`stub run failed: ${run.failures.slice(0, 3).join('; ')}`);
    const requests = run.metrics.length;
    return {
      requests,
      wallUsPerRequest: round((1000 * run.wallMs) / requests, 0),
      clientCpuUsPerRequest: round((run.cpu.user + run.cpu.system) / requests, 0),
      clientUserCpuUsPerRequest: round(run.cpu.user / requests, 0),
      aroundWireUsPerRequest: describeRun(run).aroundWireUsPerRequest,
    };
  } finally {
    stub.stop();
  }
}

/** openstacksdk doing the same workload on the same project and host (Debian's python3 has it). */
const SDK_SCRIPT = String.raw`
import base64, json, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
import openstack, openstack.config
cfg = openstack.config.OpenStackConfig().get_one(os.environ['BENCH_ADMIN_CLOUD'])
a = cfg.auth
conn = openstack.connect(auth_url=a['auth_url'], username=a['username'], password=a['password'],
    user_domain_name=a.get('user_domain_name', 'Default'), project_id=os.environ['BENCH_PROJECT_ID'],
    identity_api_version='3', interface='public', region_name=cfg.region_name)
lock = threading.Lock(); count = [0]
def hook(response, *args, **kwargs):
    with lock: count[0] += 1
conn.session.session.hooks['response'].append(hook)
n = int(os.environ['BENCH_N']); c = int(os.environ['BENCH_C']); prefix = os.environ['BENCH_PREFIX']
poll = float(os.environ['BENCH_POLL_S'])
flavor = conn.compute.find_flavor(os.environ['BENCH_FLAVOR'], ignore_missing=False)
image = conn.image.find_image(os.environ['BENCH_IMAGE'], ignore_missing=False)
conn.compute.get_server  # loads the proxy
user_data = base64.b64encode(b'#cloud-config\n').decode()
active, gone, failures = [], [], []
def one(i):
    try:
        t = time.monotonic()
        s = conn.compute.create_server(name=prefix + str(i), flavor_id=flavor.id, image_id=image.id, networks='none',
            user_data=user_data, metadata={'corral_idempotency_key': prefix + str(i)},
            availability_zone=os.environ['BENCH_AZ'])
        conn.compute.wait_for_server(s, status='ACTIVE', interval=poll, wait=180)
        active.append((time.monotonic() - t) * 1000); t = time.monotonic()
        conn.compute.delete_server(s)
        conn.compute.wait_for_delete(s, interval=poll, wait=180)
        gone.append((time.monotonic() - t) * 1000)
    except Exception as e:
        failures.append(repr(e)[:300])
with lock: count[0] = 0
cpu = time.process_time(); user0 = os.times().user; t0 = time.monotonic()
with ThreadPoolExecutor(max_workers=c) as pool:
    list(pool.map(one, range(int(os.environ['BENCH_OFFSET']), int(os.environ['BENCH_OFFSET']) + n)))
wall = time.monotonic() - t0; cpu = time.process_time() - cpu; user = os.times().user - user0
print(json.dumps({'version': openstack.version.__version__, 'wallMs': wall * 1000, 'cpuUs': cpu * 1e6, 'userUs': user * 1e6,
    'requests': count[0], 'active': active, 'gone': gone, 'failures': failures}))
`;

interface SdkResult {
  version: string;
  wallMs: number;
  cpuUs: number;
  userUs: number;
  requests: number;
  active: number[];
  gone: number[];
  failures: string[];
}

function mergeSdk(a: SdkResult, b: SdkResult): SdkResult {
  return {
    version: a.version,
    wallMs: a.wallMs + b.wallMs,
    cpuUs: a.cpuUs + b.cpuUs,
    userUs: a.userUs + b.userUs,
    requests: a.requests + b.requests,
    active: [...a.active, ...b.active],
    gone: [...a.gone, ...b.gone],
    failures: [...a.failures, ...b.failures],
  };
}

function runSdk(projectId: string, prefix: string, count: number, offset: number): Promise<SdkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', SDK_SCRIPT], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        BENCH_ADMIN_CLOUD: ADMIN_CLOUD,
        BENCH_PROJECT_ID: projectId,
        BENCH_N: String(count),
        BENCH_OFFSET: String(offset),
        BENCH_C: String(concurrency),
        BENCH_PREFIX: prefix,
        BENCH_POLL_S: String(pollMs / 1000),
        BENCH_FLAVOR: FLAVOR,
        BENCH_IMAGE: IMAGE,
        BENCH_AZ: `nova:${host}`,
      },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`openstacksdk run exited ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}`));
        return;
      }
      resolve(JSON.parse(last) as SdkResult);
    });
  });
}

async function main(): Promise<void> {
  await requireCloud();
  const runId = randomUUID().slice(0, 8);
  const prefix = `corral-bench-${runId}-`;
  const sdkPrefix = `corral-bench-sdk-${runId}-`;
  const admin = new OpenStackClient({ cloud: ADMIN_CLOUD });
  const project = await scratchProject(admin, runId);
  const metrics: RequestMetric[] = [];
  const { projectName: _name, projectDomainName: _domain, ...auth } = admin.auth;
  const provider = createOpenStackProvider({
    auth: { ...auth, projectId: project.id },
    availabilityZone: `nova:${host}`,
    defaultNetwork: 'none',
    pollIntervalMs: pollMs,
    timeoutMs: 60_000,
    onRequest: (metric) => metrics.push(metric),
  });

  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    const left = (await removeLeftovers(provider, prefix)) + (await removeLeftovers(provider, sdkPrefix));
    const nova = await admin.compute();
    await compute.deleteQuotaSet(nova, project.id).catch(() => undefined);
    await identity.deleteProject(admin.identity(), project.id);
    return left;
  };
  // Ctrl-C: no new server is started; those in flight finish their cycle, then the run fails and cleans up
  // (a cleanup racing an in-flight POST could miss its server). A second Ctrl-C exits at once.
  process.once('SIGINT', () => {
    stopping = true;
    process.stderr.write('interrupted: finishing the servers in flight, then removing the bench servers and project\n');
    process.once('SIGINT', () => process.exit(130));
  });

  try {
    const half = Math.floor(anchorServers / 2);
    const sdkBefore = anchorServers > 0 ? await runSdk(project.id, sdkPrefix, half, 0) : undefined;
    const run = await cycle(provider, metrics, prefix, servers, concurrency);
    const sdkAfter = anchorServers > 0 ? await runSdk(project.id, sdkPrefix, anchorServers - half, half) : undefined;
    const nova = await provider.client.compute();
    const afterwards = (await collect(compute.listServers(nova, { query: { name: `^${prefix}` } }))).filter((server) =>
      server.name.startsWith(prefix),
    );
    // Each create checks the idempotency key first, so the ACTIVE count is the one that matters.
    if (run.ok !== servers || run.createToActiveMs.length !== servers) {
      const why = stopping ? ' (interrupted)' : `: ${run.failures.slice(0, 3).join(' | ')}`;
      throw new Error(`${servers - run.ok} of ${servers} servers did not complete${why}`);
    }
    if (afterwards.length > 0) {
      const listed = afterwards.map((server) => `${server.name} ${server.id} ${server.status}`).join(', ');
      throw new Error(
        `${afterwards.length} servers still listed after their 404: ${listed}; calls ${JSON.stringify(describeRun(run).calls)}`,
      );
    }
    if (provider.client.session.authentications !== 1) {
      throw new Error(`expected one token, authenticated ${provider.client.session.authentications} times`);
    }
    // Time around got's timings is not shown for this run: with requests in flight it mostly measures the
    // event loop serving the others; CPU per request is the honest figure here (and the stub's is sequential).
    const { aroundWireUsPerRequest: _around, ...corral } = describeRun(run);

    const sdk = sdkBefore && sdkAfter ? mergeSdk(sdkBefore, sdkAfter) : undefined;
    if (sdk && (sdk.failures.length > 0 || sdk.gone.length !== anchorServers))
      throw new Error(`openstacksdk run failed: ${sdk.failures.slice(0, 3).join(' | ')}`);
    const stub = stubCycles > 0 ? await measureStub() : undefined;

    const sdkCpuPerRequest = sdk ? sdk.cpuUs / Math.max(1, sdk.requests) : 0;
    const result = {
      setup:
        `real one-node OpenStack Zed (test/openstack-cloud), Nova fake driver host ${host} (az nova:${host}), ` +
        `scratch project, networks none; ${servers} servers, ${concurrency} in flight, one provider/one token; ` +
        `create → ACTIVE (poll ${pollMs} ms) → delete → 404; client overhead = this process's CPU ÷ requests, ` +
        `and a sequential run against an instant stub in a child process`,
      anchor: sdk
        ? `openstacksdk ${sdk.version} (Debian python3) doing the same for ${anchorServers} servers (half before, half after corral's run), ${concurrency} threads, same project/host/poll`
        : 'none measured (BENCH_ANCHOR=0)',
      servers,
      concurrency,
      authentications: provider.client.session.authentications,
      corral,
      stub,
      ...(sdk
        ? {
            openstacksdk: {
              servers: anchorServers,
              wallSeconds: round(sdk.wallMs / 1000),
              requests: sdk.requests,
              requestsPerSecond: round(sdk.requests / (sdk.wallMs / 1000)),
              createToActiveMs: latency(sdk.active),
              deleteTo404Ms: latency(sdk.gone),
              clientCpuUsPerRequest: round(sdkCpuPerRequest, 0),
              clientUserCpuUsPerRequest: round(sdk.userUs / Math.max(1, sdk.requests), 0),
            },
            ratio: {
              // corral ÷ anchor, like the other benchmarks: below 1 is corral cheaper/faster.
              corralCpuPerRequestToSdk: round(corral.clientCpuUsPerRequest / Math.max(1, sdkCpuPerRequest)),
              corralWallPerServerToSdk: round(run.wallMs / servers / (sdk.wallMs / anchorServers)),
            },
          }
        : {}),
    };
    const left = await cleanup();
    if (left) throw new Error(`cleanup found ${left} leftover servers`);
    console.log(JSON.stringify(result));
  } finally {
    await cleanup().catch((error: unknown) => process.stderr.write(`cleanup failed: ${String(error)}\n`));
  }
}

if (process.argv.includes('--stub')) await stubMain();
else await main();
