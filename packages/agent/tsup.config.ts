import { defineConfig } from 'tsup';

// The library (`import { registerDatastore } from '@corral/agent'`), dependencies left to npm. The single-file
// guest bundle is tsup.bundle.config.ts (built right after this by `npm run build`).
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
