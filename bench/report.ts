/** Turns benchmark results into the published report: rows, a Markdown page, an SVG chart. */

export interface Metric {
  /** Dotted path of the value in the benchmark's JSON, e.g. `call.p99Ms`. */
  name: string;
  value: number;
}

export interface BenchResult {
  name: string;
  ok: boolean;
  seconds: number;
  setup?: string;
  anchor?: string;
  error?: string;
  metrics: Metric[];
  raw?: unknown;
}

/** Every finite number in a JSON value, with its dotted path. */
export function flattenMetrics(value: unknown, prefix = ''): Metric[] {
  if (typeof value === 'number') return Number.isFinite(value) ? [{ name: prefix || 'value', value }] : [];
  if (Array.isArray(value)) return value.flatMap((item, index) => flattenMetrics(item, join(prefix, String(index))));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => flattenMetrics(item, join(prefix, key)));
  }
  return [];
}

function join(prefix: string, key: string): string {
  return prefix ? `${prefix}.${key}` : key;
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(3);
}

/**
 * A benchmark that measures the same figures over several configurations (fleet: broker × size) reports them
 * as `runs: { "<configuration>": { "<metric>": number } }`; those render as one table, a column per
 * configuration, instead of a long list of `runs.<configuration>.<metric>` rows.
 */
export function runsOf(raw: unknown): Record<string, Record<string, number>> | undefined {
  if (raw === null || typeof raw !== 'object' || !('runs' in raw)) return undefined;
  const runs = (raw as { runs: unknown }).runs;
  if (runs === null || typeof runs !== 'object' || Array.isArray(runs)) return undefined;
  const entries = Object.entries(runs as Record<string, unknown>);
  if (entries.length === 0) return undefined;
  const table: Record<string, Record<string, number>> = {};
  for (const [name, run] of entries) {
    if (run === null || typeof run !== 'object' || Array.isArray(run)) return undefined;
    table[name] = Object.fromEntries(flattenMetrics(run).map((metric) => [metric.name, metric.value]));
  }
  return table;
}

function renderRuns(runs: Record<string, Record<string, number>>): string[] {
  const names = Object.keys(runs);
  const metrics = [...new Set(names.flatMap((name) => Object.keys(runs[name] ?? {})))];
  return [
    `| metric | ${names.join(' | ')} |`,
    `| --- |${names.map(() => ' ---: |').join('')}`,
    ...metrics.map((metric) => {
      const cells = names.map((name) => {
        const value = runs[name]?.[metric];
        return value === undefined ? '' : formatNumber(value);
      });
      return `| ${metric} | ${cells.join(' | ')} |`;
    }),
  ];
}

export function renderMarkdown(machine: Record<string, unknown>, results: BenchResult[]): string {
  const lines = [
    '# Benchmarks',
    '',
    'Produced by `npm run bench` (see `bench/`); each benchmark runs in its own process. Reproduce with',
    '`bash scripts/setup/all.sh && npm run build && npm run bench`; run one with `npm run bench -- <name>`.',
    '',
    '## Machine',
    '',
    ...Object.entries(machine).map(([key, value]) => `- ${key}: ${String(value)}`),
    '',
  ];
  for (const result of results) {
    lines.push(`## ${result.name}`, '');
    if (result.setup) lines.push(`Setup: ${result.setup}`, '');
    if (result.anchor) lines.push(`Anchor: ${result.anchor}`, '');
    if (!result.ok) {
      lines.push(`Did not complete: ${result.error ?? 'unknown error'}`, '');
      continue;
    }
    const runs = runsOf(result.raw);
    if (runs) lines.push(...renderRuns(runs), '');
    const rest = runs ? result.metrics.filter((metric) => !metric.name.startsWith('runs.')) : result.metrics;
    if (rest.length > 0) {
      lines.push('| metric | value |', '| --- | ---: |');
      for (const metric of rest) lines.push(`| ${metric.name} | ${formatNumber(metric.value)} |`);
      lines.push('');
    }
    lines.push(`(ran ${result.seconds.toFixed(1)} s)`, '');
  }
  return `${lines.join('\n')}\n`;
}

/** One bar per metric whose name says it is a ratio (`ratio` in its path), on a log scale around 1. */
export function renderChart(results: BenchResult[]): string {
  const bars = results.flatMap((result) =>
    result.metrics
      .filter((metric) => /ratio/i.test(metric.name) && metric.value > 0)
      .map((metric) => ({ label: `${result.name}: ${metric.name}`, value: metric.value })),
  );
  const rowHeight = 22;
  const width = 900;
  const labelWidth = 420;
  const height = 40 + Math.max(bars.length, 1) * rowHeight;
  const maxLog = Math.max(1, ...bars.map((bar) => Math.abs(Math.log10(bar.value))));
  const mid = labelWidth + (width - labelWidth) / 2;
  const scale = (width - labelWidth - 20) / 2 / maxLog;
  const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const rows = bars.map((bar, index) => {
    const y = 30 + index * rowHeight;
    const length = Math.log10(bar.value) * scale;
    const x = length >= 0 ? mid : mid + length;
    return [
      `<text x="${labelWidth - 8}" y="${y + 14}" text-anchor="end" font-size="12">${escapeXml(bar.label)}</text>`,
      `<rect x="${x.toFixed(1)}" y="${y + 3}" width="${Math.max(Math.abs(length), 1).toFixed(1)}" height="14" fill="${length >= 0 ? '#2b7a4b' : '#b5472f'}"/>`,
      `<text x="${(length >= 0 ? mid + length + 4 : mid + 4).toFixed(1)}" y="${y + 14}" font-size="11">${formatNumber(bar.value)}×</text>`,
    ].join('');
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<text x="10" y="18" font-size="14">Ratios against each benchmark's anchor (log scale; 1× at the centre line)</text>`,
    `<line x1="${mid}" y1="26" x2="${mid}" y2="${height - 6}" stroke="#888"/>`,
    ...(bars.length === 0 ? ['<text x="10" y="50" font-size="12">no ratio metrics reported</text>'] : rows),
    '</svg>',
    '',
  ].join('\n');
}
