import { describe, expect, it } from 'vitest';
import { flattenMetrics, renderChart, renderMarkdown } from './report.js';

describe('benchmark report', () => {
  it('flattens every finite number with its dotted path and drops the rest', () => {
    expect(flattenMetrics({ setup: 'x', call: { p50Ms: 1.5, p99Ms: 4 }, runs: [3, Number.NaN], ok: true })).toEqual([
      { name: 'call.p50Ms', value: 1.5 },
      { name: 'call.p99Ms', value: 4 },
      { name: 'runs.0', value: 3 },
    ]);
  });

  it('renders a table per benchmark and says when one did not complete', () => {
    const markdown = renderMarkdown({ cores: 2 }, [
      { name: 'lag', ok: true, seconds: 1, anchor: 'Trove polls', metrics: [{ name: 'p99Ms', value: 12.345 }] },
      { name: 'fleet', ok: false, seconds: 2, error: 'exit 1; no JSON result', metrics: [] },
    ]);
    expect(markdown).toContain('| p99Ms | 12.35 |');
    const large = renderMarkdown({}, [
      {
        name: 'n',
        ok: true,
        seconds: 1,
        metrics: [
          { name: 'a', value: 1691.4 },
          { name: 'b', value: 1819 },
        ],
      },
    ]);
    // Every figure of 100 or more is a grouped integer, whether it was measured as one or not.
    expect(large).toContain('| a | 1,691 |');
    expect(large).toContain('| b | 1,819 |');
    expect(markdown).toContain('Anchor: Trove polls');
    expect(markdown).toContain('Did not complete: exit 1; no JSON result');
  });

  it('renders the runs of a benchmark as one table, a column per run, and its other figures as rows', () => {
    const raw = {
      setup: 'fleet',
      runs: {
        'aedes/1000': { connectSeconds: 4.5, heapPerConnectionKiB: 12 },
        'mosquitto/1000': { connectSeconds: 3 },
      },
      certificateIssueSeconds: 9.5,
    };
    const markdown = renderMarkdown({}, [{ name: 'fleet', ok: true, seconds: 60, metrics: flattenMetrics(raw), raw }]);
    expect(markdown).toContain('| metric | aedes/1000 | mosquitto/1000 |');
    expect(markdown).toContain('| connectSeconds | 4.50 | 3 |');
    expect(markdown).toContain('| heapPerConnectionKiB | 12 |  |');
    expect(markdown).toContain('| certificateIssueSeconds | 9.50 |');
    expect(markdown).not.toContain('runs.aedes');
  });

  it('falls back to rows when `runs` is not a map of runs', () => {
    const raw = { runs: [1, 2] };
    const markdown = renderMarkdown({}, [{ name: 'x', ok: true, seconds: 1, metrics: flattenMetrics(raw), raw }]);
    expect(markdown).toContain('| runs.0 | 1 |');
  });

  it('charts only ratio metrics, bars left of the centre for ratios below one', () => {
    const svg = renderChart([
      {
        name: 'lag',
        ok: true,
        seconds: 1,
        metrics: [
          { name: 'ratioToAnchor', value: 0.01 },
          { name: 'p50Ms', value: 3 },
        ],
      },
    ]);
    expect(svg).toContain('lag: ratioToAnchor');
    expect(svg).not.toContain('p50Ms');
    expect(svg).toContain('fill="#b5472f"');
  });
});
