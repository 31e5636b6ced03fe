import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'tsup';
import pkg from './package.json' with { type: 'json' };

const coreDir = fileURLToPath(new URL('../core/src', import.meta.url));

/** The agent imports core's slim entry points only (contract, messaging, pki): never stores or brokers. */
const coreEntries: Record<string, string> = {
  '@corral/core/contract': resolve(coreDir, 'contract/index.ts'),
  '@corral/core/messaging': resolve(coreDir, 'messaging/index.ts'),
  '@corral/core/pki': resolve(coreDir, 'pki/index.ts'),
};

/**
 * MQTT.js's WebSocket and SOCKS transports, replaced by a stub: the agent speaks mqtts:// straight to the
 * broker, and MQTT.js loads both on every connect (about 2 MiB of memory).
 */
const STUBBED = ['ws', 'socks'];

// The guest bundle: one file, every dependency inside (core from source), runnable with plain `node` and no
// node_modules: dist/corral-agent.mjs.
export default defineConfig({
  entry: { 'corral-agent': 'src/cli.ts' },
  format: ['esm'],
  outExtension: () => ({ js: '.mjs' }),
  platform: 'node',
  target: 'node20',
  noExternal: [/.*/],
  external: ['pg-native', 'cloudflare:sockets'],
  minify: true,
  sourcemap: false,
  dts: false,
  clean: false,
  splitting: false,
  define: { __CORRAL_AGENT_VERSION__: JSON.stringify(pkg.version) },
  // Bundled CommonJS packages call require() for node builtins; give the ESM bundle one.
  banner: {
    js: "import { createRequire as __corralRequire } from 'node:module'; const require = __corralRequire(import.meta.url);",
  },
  esbuildPlugins: [
    {
      // Core's modules only define things (schemas, classes, functions): declaring them free of side effects
      // lets esbuild drop every module the agent does not use (stores, task manager, broker...), which would
      // otherwise all be evaluated at start-up (zod schemas are built by calls esbuild cannot prove pure).
      name: 'core-without-side-effects',
      setup(build) {
        build.onResolve({ filter: /^(@corral\/core(\/.*)?|\.{1,2}\/.*)$/ }, (args) => {
          const entry = coreEntries[args.path];
          if (args.path.startsWith('@corral/core') && !entry)
            throw new Error(`${args.path}: the agent may import only ${Object.keys(coreEntries).join(', ')}`);
          if (!entry && !args.importer.startsWith(coreDir)) return undefined;
          const target = entry ?? resolve(args.resolveDir, args.path);
          const path =
            target.endsWith('.js') && existsSync(`${target.slice(0, -3)}.ts`) ? `${target.slice(0, -3)}.ts` : target;
          return existsSync(path) ? { path, sideEffects: false } : undefined;
        });
      },
    },
    {
      // pg asks at load whether it runs in a Cloudflare Worker by building a `Response`, which on Node 20 (no
      // `navigator`) loads undici and compiles its WebAssembly: about 6 MiB that a guest keeps for nothing.
      name: 'pg-node-only',
      setup(build) {
        build.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, (args) => {
          const source = readFileSync(args.path, 'utf8');
          const check = 'function isCloudflareRuntime() {';
          if (!source.includes(check)) throw new Error(`pg-node-only: ${args.path} no longer has ${check}`);
          return { contents: source.replace(check, `${check}\n  return false;`), loader: 'js' };
        });
      },
    },
    {
      name: 'stub-unused-transports',
      setup(build) {
        const filter = new RegExp(`^(${STUBBED.join('|')})$`);
        build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'corral-stub' }));
        build.onLoad({ filter: /.*/, namespace: 'corral-stub' }, (args) => ({
          contents: `const fail = () => { throw new Error(${JSON.stringify(`${args.path} is not part of the corral-agent bundle`)}); };
export default fail;`,
          loader: 'js',
        }));
      },
    },
  ],
});
