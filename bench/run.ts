/**
 * `npm run bench`: runs every benchmark in this folder, each in its own process (so one's memory and
 * event loop never colour another's), and writes the report under docs/benchmarks/: results.json,
 * a Markdown table (docs/benchmarks.md) and an SVG chart of the ratios against each anchor.
 *
 * A benchmark is a script `bench/<name>.ts` that prints one JSON object as its last line of output.
 * Numeric leaves become rows (`a.b.c` paths); a top-level `setup` and `anchor` string describe the run.
 * `npm run bench -- messaging libvirt-rpc` runs only the named ones and keeps the other benchmarks' latest
 * figures in the report. BENCH_REPORT_DIR=<dir> writes <dir>/benchmarks.md and <dir>/benchmarks/ instead.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchResult, flattenMetrics, renderChart, renderMarkdown } from './report.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = dirname(benchDir);
// BENCH_REPORT_DIR writes the report somewhere else than docs/ (a trial run that must not touch the published one).
const reportDir = process.env.BENCH_REPORT_DIR ?? join(root, 'docs');
const outDir = join(reportDir, 'benchmarks');
const perBenchTimeoutMs = 20 * 60_000;
const killGraceMs = 60_000;
/**
 * Benchmarks that need longer. fleet: 2 brokers × (1,000 + 5,000 + 10,000) agents, each connected and reconnected
 * after a broker restart, took 17-19 min on the shared 2-core machine under a load average of 5-20.
 * Each benchmark is told its limit (BENCH_TIMEOUT_S) so it can skip what would not fit instead of being killed.
 */
const timeoutsMs: Record<string, number> = { fleet: 30 * 60_000 };

async function listBenchmarks(only: string[]): Promise<string[]> {
  const names = (await readdir(benchDir))
    .filter(
      (file) =>
        file.endsWith('.ts') &&
        !file.startsWith('.') &&
        !['run.ts', 'report.ts'].includes(file) &&
        !file.endsWith('.test.ts'),
    )
    .map((file) => file.slice(0, -3))
    .sort();
  const unknown = only.filter((name) => !names.includes(name));
  if (unknown.length > 0) throw new Error(`no such benchmark: ${unknown.join(', ')} (have: ${names.join(', ')})`);
  return only.length > 0 ? names.filter((name) => only.includes(name)) : names;
}

function runOne(name: string): Promise<BenchResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const timeoutMs = timeoutsMs[name] ?? perBenchTimeoutMs;
    const child = spawn(process.execPath, ['--import', 'tsx', join(benchDir, `${name}.ts`)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, BENCH_TIMEOUT_S: String(timeoutMs / 1000) },
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    // SIGINT first, so a benchmark can remove what it made (servers, projects); SIGKILL after a grace period.
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      killer = setTimeout(() => child.kill('SIGKILL'), killGraceMs);
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killer);
      const seconds = (Date.now() - started) / 1000;
      const lastJson = stdout
        .trim()
        .split('\n')
        .reverse()
        .find((line) => line.trim().startsWith('{'));
      if (code !== 0 || !lastJson) {
        resolve({ name, ok: false, seconds, error: `exit ${code ?? signal}; no JSON result`, metrics: [] });
        return;
      }
      try {
        const parsed = JSON.parse(lastJson) as Record<string, unknown>;
        resolve({
          name,
          ok: true,
          seconds,
          setup: typeof parsed.setup === 'string' ? parsed.setup : undefined,
          anchor: typeof parsed.anchor === 'string' ? parsed.anchor : undefined,
          metrics: flattenMetrics(parsed),
          raw: parsed,
        });
      } catch (error) {
        resolve({ name, ok: false, seconds, error: `unparsable result: ${String(error)}`, metrics: [] });
      }
    });
  });
}

function describeMachine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    kvm: 'not usable here: VMs run under QEMU software emulation (TCG)',
    date: new Date().toISOString(),
  };
}

async function readPrevious(): Promise<BenchResult[]> {
  try {
    const report = JSON.parse(await readFile(join(outDir, 'results.json'), 'utf8')) as { results?: BenchResult[] };
    return report.results ?? [];
  } catch {
    return [];
  }
}

async function main() {
  const allNames = await listBenchmarks([]);
  const names = await listBenchmarks(process.argv.slice(2));
  const results: BenchResult[] = [];
  for (const name of names) {
    process.stderr.write(`== bench ${name}\n`);
    const result = await runOne(name);
    process.stderr.write(`   ${result.ok ? 'ok' : `FAILED: ${result.error}`} (${result.seconds.toFixed(1)} s)\n`);
    results.push(result);
  }
  const machine = describeMachine();
  await mkdir(outDir, { recursive: true });
  // A run of some benchmarks updates their rows and keeps the others' latest figures.
  const previous = await readPrevious();
  const ran = new Set(results.map((result) => result.name));
  results.push(...previous.filter((result) => !ran.has(result.name) && names.length < allNames.length));
  results.sort((a, b) => a.name.localeCompare(b.name));
  await writeFile(join(outDir, 'results.json'), `${JSON.stringify({ machine, results }, null, 2)}\n`);
  await writeFile(join(outDir, 'chart.svg'), renderChart(results));
  await writeFile(join(reportDir, 'benchmarks.md'), renderMarkdown(machine, results));
  process.stderr.write(`wrote ${reportDir}/benchmarks.md and ${outDir}/{results.json,chart.svg}\n`);
  if (results.some((result) => !result.ok)) process.exitCode = 1;
}

await main();
