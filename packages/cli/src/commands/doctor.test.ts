import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from '@corral/core';
import { RevocationList } from '@corral/core/pki';
import { describe, expect, it } from 'vitest';
import { checkCrl, failedChecks, formatDoctor, runDoctor } from './doctor.js';

describe('corral doctor', () => {
  it('names libvirtd as missing on a host without it, with the command that fixes it', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'corral-doctor-'));
    const checks = await runDoctor({
      libvirtSocket: join(stateDir, 'no-such-libvirt-sock'),
      kvmDevice: join(stateDir, 'no-kvm'),
      stateDir,
      path: join(stateDir, 'empty-bin'),
      minFreeGiB: 0,
    });
    const failed = failedChecks(checks).map((check) => check.name);
    expect(failed).toEqual(expect.arrayContaining(['libvirtd', 'qemu-system-x86_64', 'qemu-img']));
    expect(failed).not.toContain('kvm'); // optional: software emulation still works
    const libvirtd = checks.find((check) => check.name === 'libvirtd');
    expect(libvirtd?.fix).toContain('libvirtd -d');
    const text = formatDoctor(checks);
    expect(text).toContain('✖ libvirtd');
    expect(text).toContain('fix: apt-get install -y qemu-system-x86');
    expect(text).toMatch(/required check\(s\) failed/);
  });

  it('reports free disk space against the minimum asked for', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'corral-doctor-'));
    const checks = await runDoctor({
      libvirtSocket: '/nonexistent',
      kvmDevice: '/nonexistent',
      stateDir: join(stateDir, 'not-made-yet'),
      minFreeGiB: 1e9,
    });
    const disk = checks.find((check) => check.name === 'disk');
    expect(disk?.ok).toBe(false);
    expect(disk?.fix).toMatch(/free at least/);
  });

  it('warns when the CRL expires soon and fails once it expired (injected clock)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'corral-doctor-'));
    const file = join(dir, 'crl.pem');
    const issued = Date.now();
    await writeFile(file, await new RevocationList().toCrlPem(await createCa({ commonName: 'doctor CA' }), 7, issued));
    const day = 24 * 3600 * 1000;
    expect(await checkCrl(file, issued + day)).toMatchObject({ ok: true });
    expect(await checkCrl(file, issued + 6 * day)).toMatchObject({ ok: false, optional: true });
    expect(await checkCrl(file, issued + 8 * day)).toMatchObject({ ok: false });
    expect((await checkCrl(file, issued + 8 * day)).optional).toBeUndefined();
  });
});
