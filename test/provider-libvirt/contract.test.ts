/**
 * core's provider contract suite against the libvirt provider and a real libvirtd
 * (scripts/setup/40-libvirt.sh), booting the test kernel + initramfs (fixtures/build-test-image.sh) under
 * TCG. The guest prints the user-data it read from its NoCloud seed on the serial console.
 */
import { describeProviderContract } from '@corral/core/testing/suites';
import { createLibvirtProvider, openLibvirt } from '@corral/provider-libvirt';
import { cleanup, requireLibvirtd, testImage, URI, waitFor } from './helpers.js';

const prefix = `corralctr${process.pid % 100000}-`;
const pool = { name: `${prefix}pool`, path: `/var/lib/corral/test-pools/${prefix}pool` };

describeProviderContract('libvirt', async () => {
  requireLibvirtd();
  const image = testImage();
  const provider = createLibvirtProvider({
    uri: URI,
    pool,
    namePrefix: prefix,
    domainType: 'qemu',
    consoleLogDir: `/var/log/corral/test-console/${prefix}`,
    images: [
      {
        kind: 'kernel',
        name: 'tiny',
        kernel: image.kernel,
        initrd: image.initrd,
        cmdline: 'console=ttyS0 corral.stay=1',
      },
    ],
    flavors: [
      { id: 'corral.micro', name: 'corral.micro', vcpus: 1, ramMb: 256 },
      { id: 'impossible', name: 'impossible', vcpus: 1, ramMb: 64 * 1024 * 1024 },
    ],
  });
  return {
    provider,
    flavor: 'corral.micro',
    image: 'tiny',
    async readBootstrap(server) {
      const log = await waitFor('the guest to print its seed', 90_000, async () => {
        const text = await provider.readConsoleLog(server.id);
        return text.includes('CORRAL-SEED-END') || text.includes('CORRAL-SEED-MISSING') ? text : undefined;
      });
      return log
        .split(/\r?\n/)
        .filter((line) => line.startsWith('CORRAL-SEED-USERDATA: '))
        .map((line) => line.slice('CORRAL-SEED-USERDATA: '.length))
        .join('\n');
    },
    failingRequest: () => ({
      name: 'fail',
      idempotencyKey: 'set-by-suite',
      flavor: 'impossible',
      image: 'tiny',
      bootstrap: { userData: '#cloud-config\n' },
    }),
    async leaks(server) {
      const lv = await openLibvirt(URI);
      try {
        const stem = `${prefix}${server.name}-`;
        const domains = (await lv.domains.list()).filter((d) => d.name.startsWith(stem)).map((d) => `domain ${d.name}`);
        const poolRef = await lv.storage.ensureDirPool(pool.name, pool.path);
        const volumes = (await lv.storage.listVolumes(poolRef))
          .filter((v) => v.name.startsWith(stem))
          .map((v) => `volume ${v.name}`);
        return [...domains, ...volumes];
      } finally {
        await lv.close();
      }
    },
    async cleanup() {
      await provider.close?.();
      await cleanup(prefix, pool);
    },
  };
});
