/**
 * The KVM probe on a real libvirtd (scripts/setup/40-libvirt.sh). On this machine /dev/kvm exists but KVM
 * guests hang; the probe must notice within its deadline, never hang itself, and leave nothing behind.
 */
import { createLibvirtProvider, type Libvirt, openLibvirt, probeKvm, probeMarkerXml } from '@corral/provider-libvirt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, requireLibvirtd, testImage, URI, waitFor } from './helpers.js';

const prefix = `corralprobe${process.pid % 100000}-`;
const pool = { name: `${prefix}pool`, path: `/var/lib/corral/test-pools/${prefix}pool` };
let lv: Libvirt;

beforeAll(async () => {
  requireLibvirtd();
  lv = await openLibvirt(URI);
});

afterAll(async () => {
  await lv?.close();
  await cleanup(prefix, pool);
});

describe('KVM probe', () => {
  it('decides within its deadline, caches the answer and leaves no probe domain', async () => {
    const { kernel } = testImage();
    const deadlineMs = 8000;
    const started = Date.now();
    const result = await probeKvm(lv.connection, { kernelPath: kernel, deadlineMs, callTimeoutMs: 3000 });
    expect(Date.now() - started).toBeLessThan(deadlineMs + 15_000);
    expect(result.reason.length).toBeGreaterThan(0);
    expect(probeKvm(lv.connection, { kernelPath: kernel, deadlineMs })).toBe(
      probeKvm(lv.connection, { kernelPath: kernel }),
    );
    const names = (await lv.domains.list()).map((d) => d.name);
    expect(names.filter((n) => n.startsWith('corral-kvm-probe-'))).toEqual([]);
  });

  it('recognises a guest that does boot (the same probe under TCG says usable)', async () => {
    const { kernel } = testImage();
    const result = await probeKvm(lv.connection, { kernelPath: kernel, domainType: 'qemu', deadlineMs: 30_000 });
    expect(result).toMatchObject({ usable: true });
    expect(result.elapsedMs).toBeLessThan(30_000);
  });

  it('a new provider destroys what an interrupted probe left running, and nothing else', async () => {
    // Firmware with nothing to boot and no reboot: each stays up until someone destroys it.
    const start = (name: string, marker: string) =>
      lv.domains.createTransient(
        `<domain type='qemu'><name>${name}</name><metadata>${marker}</metadata><memory unit='MiB'>32</memory>` +
          `<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type><bios rebootTimeout='-1'/></os>` +
          `<devices><memballoon model='none'/></devices></domain>`,
      );
    const leftover = `${prefix}kvm-probe-left`;
    const live = `${prefix}kvm-probe-live`; // another process's probe, still within its deadline
    const unmarked = `${prefix}kvm-probe-notours`;
    await start(leftover, probeMarkerXml(new Date(Date.now() - 10 * 60_000)));
    await start(live, probeMarkerXml(new Date(Date.now() + 10 * 60_000)));
    await start(unmarked, '<other:x xmlns:other="https://example.org/not-corral"/>');
    const provider = createLibvirtProvider({ uri: URI, pool, namePrefix: prefix, domainType: 'qemu' });
    try {
      await provider.listServers(); // the provider's first connection
      const names = async () => (await lv.domains.list()).map((d) => d.name);
      await waitFor(`${leftover} to be destroyed`, 30_000, async () =>
        (await names()).includes(leftover) ? undefined : true,
      );
      expect(await names()).toEqual(expect.arrayContaining([live, unmarked]));
    } finally {
      await provider.close?.();
    }
  });

  it('makes the provider pick a domain type that agrees with the probe', async () => {
    const { kernel, initrd } = testImage();
    const provider = createLibvirtProvider({
      uri: URI,
      pool,
      namePrefix: prefix,
      images: [{ kind: 'kernel', name: 'tiny', kernel, initrd }],
    });
    try {
      const type = await provider.domainType();
      const lvKernel = (
        await (await provider.libvirt()).storage.listVolumes(await lv.storage.ensureDirPool(pool.name, pool.path))
      ).find((v) => v.name.includes('-kernel-'));
      expect(lvKernel).toBeDefined();
      const probe = await probeKvm((await provider.libvirt()).connection, {
        kernelPath: await lv.storage.path(lvKernel!),
      });
      expect(type).toBe(probe.usable ? 'kvm' : 'qemu');
    } finally {
      await provider.close?.();
    }
  });
});
