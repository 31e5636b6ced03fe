import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'contract/index': 'src/contract/index.ts',
    'messaging/index': 'src/messaging/index.ts',
    'pki/index': 'src/pki/index.ts',
    'testing/index': 'src/testing/index.ts',
    'testing/suites': 'src/testing/suites.ts',
  },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
