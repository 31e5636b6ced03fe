import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Tests import the workspace packages from source, so `npm test` needs no build first.
const alias = {
  '@corral/core/contract': src('./packages/core/src/contract/index.ts'),
  '@corral/core/messaging': src('./packages/core/src/messaging/index.ts'),
  '@corral/core/pki': src('./packages/core/src/pki/index.ts'),
  '@corral/core/testing/suites': src('./packages/core/src/testing/suites.ts'),
  '@corral/core/testing': src('./packages/core/src/testing/index.ts'),
  '@corral/core': src('./packages/core/src/index.ts'),
  '@corral/agent': src('./packages/agent/src/index.ts'),
  '@corral/provider-libvirt': src('./packages/provider-libvirt/src/index.ts'),
  '@corral/provider-openstack': src('./packages/provider-openstack/src/index.ts'),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'bench/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          // Suites here start real services (brokers, databases, VMs); on two cores they run one file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
