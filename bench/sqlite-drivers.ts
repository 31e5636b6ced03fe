/**
 * The embedded store's two SQLite drivers side by side: conductor ingest (bench/conductor-ingest.ts, SQLite
 * only) and status lag (bench/status-lag.ts), each in its own process, for every (Node, driver) pair that runs
 * here: better-sqlite3 on the host's Node (whose ABI its native module was built for), node:sqlite on Node 22
 * and 24 (scripts/node-versions.sh). BENCH_SQLITE_PAIRS adds or replaces pairs, as `<node spec>:<driver>`
 * words (e.g. `24:better-sqlite3` after `npm rebuild better-sqlite3` with Node 24). `npx tsx bench/sqlite-drivers.ts`.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pairs = (process.env.BENCH_SQLITE_PAIRS ?? 'host:better-sqlite3 22:node:sqlite 24:node:sqlite')
  .split(/\s+/)
  .filter(Boolean)
  .map((word) => {
    const at = word.indexOf(':');
    return { spec: word.slice(0, at), driver: word.slice(at + 1) };
  });

function nodeFor(spec: string): string {
  if (spec === 'host') return process.execPath;
  return execFileSync('bash', [join(root, 'scripts/node-versions.sh'), spec], { encoding: 'utf8' }).trim();
}

/** Runs one bench script under `node` and returns its last JSON line. */
function runScript(node: string, script: string, driver: string): Record<string, unknown> {
  const stdout = execFileSync(node, ['--import', 'tsx', join(root, 'bench', script)], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, BENCH_SQLITE_DRIVER: driver, BENCH_SQLITE_ONLY: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const last = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((line) => line.startsWith('{'));
  if (!last) throw new Error(`${script} on ${node} printed no result`);
  return JSON.parse(last) as Record<string, unknown>;
}

const runs: Record<string, Record<string, number>> = {};
for (const { spec, driver } of pairs) {
  const node = nodeFor(spec);
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  process.stderr.write(`[bench sqlite-drivers] ${driver} on node ${version}\n`);
  const ingest = runScript(node, 'conductor-ingest.ts', driver) as { sqlite: { perSecond: number } };
  const lag = runScript(node, 'status-lag.ts', driver) as { statusLagMs: { p50: number; p90: number; p99: number } };
  runs[`${driver} on ${version}`] = {
    ingestPerSecond: ingest.sqlite.perSecond,
    statusLagMsP50: lag.statusLagMs.p50,
    statusLagMsP90: lag.statusLagMs.p90,
    statusLagMsP99: lag.statusLagMs.p99,
  };
}
console.log(
  JSON.stringify({
    setup:
      'each pair in its own processes: conductor-ingest (100,000 heartbeats over 1,000 instances, batches of up to 1,000) and status-lag (300 HEALTHY heartbeats over embedded aedes with mTLS)',
    anchor: 'better-sqlite3, the embedded store driver before node:sqlite',
    runs,
  }),
);
