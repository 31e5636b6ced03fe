import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * What each slim entry point pulls in, read from esbuild's module graph: a provider or the agent importing
 * `@corral/core/contract` must not get a store, a broker or the task manager with it, and the fakes must
 * not need a test runner.
 */

const src = fileURLToPath(new URL('..', import.meta.url));

async function graphOf(entry: string): Promise<{ modules: string[]; packages: string[] }> {
  const result = await build({
    entryPoints: [`${src}${entry}`],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  const output = Object.values(result.metafile.outputs)[0];
  const packages = (output?.imports ?? [])
    .filter((imported) => imported.external && !imported.path.startsWith('node:'))
    .map((imported) =>
      imported.path
        .split('/')
        .slice(0, imported.path.startsWith('@') ? 2 : 1)
        .join('/'),
    );
  const modules = Object.keys(result.metafile.inputs).map((input) => input.slice(input.indexOf('src/') + 4));
  return { modules, packages: [...new Set(packages)].sort() };
}

const CONTROL_PLANE_FOLDERS =
  /^(store|taskmanager|watcher|enrolment|instance|datastore|pki)\/|messaging\/(broker|mosquitto)/;

describe('slim entry points', () => {
  it('the contract brings zod only, and no control-plane module', async () => {
    const { modules, packages } = await graphOf('contract/index.ts');
    expect(packages).toEqual(['zod']);
    expect(modules.filter((module) => CONTROL_PLANE_FOLDERS.test(module))).toEqual([]);
    expect(modules.filter((module) => /^conductor\//.test(module))).toEqual(['conductor/messages.ts']);
  });

  it('the messaging client brings MQTT.js and pino, no broker', async () => {
    const { modules, packages } = await graphOf('messaging/index.ts');
    expect(packages).toEqual(['mqtt', 'pino', 'zod']);
    expect(modules.filter((module) => CONTROL_PLANE_FOLDERS.test(module))).toEqual([]);
  });

  it('the PKI needs no store or broker', async () => {
    const { modules, packages } = await graphOf('pki/index.ts');
    expect(packages).toEqual(['asn1js', 'pkijs', 'zod']);
    expect(
      modules.filter((module) => /^(store|taskmanager|instance)\/|messaging\/(broker|transport)/.test(module)),
    ).toEqual([]);
  });

  it('the fakes run without vitest; the suites are where vitest is', async () => {
    const fakes = await graphOf('testing/index.ts');
    expect(fakes.packages).not.toContain('vitest');
    expect(fakes.packages).not.toContain('better-sqlite3');
    const suites = await graphOf('testing/suites.ts');
    expect(suites.packages).toContain('vitest');
  });
});
