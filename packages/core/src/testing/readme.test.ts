import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';

// The README's example must run as written: take the first ```ts block and import it as a module.
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'corral-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('runs the README example and prints what it says', async () => {
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(code).toBeDefined();
  const file = join(dir, 'example.ts');
  writeFileSync(file, code ?? '');
  const printed: unknown[][] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    printed.push(args);
  });
  // The example makes its database under tmpdir(): point that into our directory, removed afterwards.
  const previousTmp = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    await import(/* @vite-ignore */ file);
  } finally {
    log.mockRestore();
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
  }
  expect(printed).toEqual([
    ['corral-guest', { maxmemory: 104857600, databases: 32 }, ['databases']],
    [{ status: 'ACTIVE', operatingStatus: 'HEALTHY', rule: 'service' }],
  ]);
});
