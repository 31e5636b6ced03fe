import { afterEach, describe, expect, it, vi } from 'vitest';
import { ExitCode } from './exit-codes.js';
import { main } from './program.js';

function captureStderr() {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  return { text: () => chunks.join(''), spy };
}

describe('corral CLI', () => {
  afterEach(() => vi.restoreAllMocks());

  it('exits with the usage code and names the problem for an unknown command', async () => {
    const stderr = captureStderr();
    expect(await main(['frobnicate'])).toBe(ExitCode.usage);
    expect(stderr.text()).toMatch(/unknown command 'frobnicate'/);
  });

  it('exits with the usage code for an unknown option', async () => {
    const stderr = captureStderr();
    expect(await main(['doctor', '--no-such-flag'])).toBe(ExitCode.usage);
    expect(stderr.text()).toMatch(/unknown option '--no-such-flag'/);
  });

  it('prints one JSON document with --json', async () => {
    captureStderr();
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const code = await main(['--json', 'doctor', '--libvirt-socket', '/nonexistent/sock']);
    expect(code).toBe(ExitCode.failed);
    const report = JSON.parse(out.join('')) as { ok: boolean; checks: { name: string; ok: boolean }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.find((check) => check.name === 'libvirtd')?.ok).toBe(false);
  });
});
