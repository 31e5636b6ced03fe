/**
 * examples/custom-datastore.ts as a user runs it: the embedded control plane with a `kv` catalog entry and the
 * real agent with the `kv` manager registered, in one process on loopback (no VM, no setup script).
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');

describe('examples/custom-datastore.ts', () => {
  it('takes a kv instance to ACTIVE through the real agent with the custom manager, then deletes it', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'examples/custom-datastore.ts'],
        { cwd: root, timeout: 60_000 },
        (error, out, err) => done({ code: error ? 1 : 0, stdout: out, stderr: err }),
      );
    });
    expect(stderr).not.toMatch(/failed/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/boots the real agent with manager "kv"/);
    expect(stdout).toMatch(/ACTIVE: datastore kv 1, service HEALTHY/);
    expect(stdout).toMatch(/deleted/);
  });
});
