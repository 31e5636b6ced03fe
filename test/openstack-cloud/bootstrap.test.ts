// The first-run path of `bootstrap.py qemu` (the libvirt compute's isolation), which a re-run on a machine where
// the cloud exists never takes: `bootstrap.py qemu-teardown` removes the flavor, aggregate, trait and placement
// membership, the step runs from scratch, and each object must be back and right. Plain fetch (no corral code),
// like cloud.test.ts. Needs scripts/setup/60-openstack.sh with the libvirt compute (CORRAL_OPENSTACK_QEMU=1).
//
// While it runs (about 10-20 s) the isolation is gone: suites on the same cloud must not run beside it
// (the integration project runs one file at a time).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import * as z from 'zod';

const BOOTSTRAP = resolve(import.meta.dirname, 'bootstrap.py');
const PYTHON = '/usr/bin/python3'; // Debian's, with openstacksdk
const QEMU_HOST = 'corral-qemu';
const TRAIT = 'CUSTOM_CORRAL_QEMU';
const FLAVOR_ID = 'corral-qemu';

const AdminCloud = z.object({
  clouds: z.object({
    'corral-admin': z.object({
      auth: z.object({
        auth_url: z.string(),
        username: z.string(),
        password: z.string(),
        project_name: z.string(),
      }),
    }),
  }),
});
const Catalog = z.array(
  z.object({ type: z.string(), endpoints: z.array(z.object({ interface: z.string(), url: z.string() })) }),
);

interface Admin {
  get(type: 'compute' | 'placement', path: string): Promise<Response>;
}

async function loginAdmin(): Promise<Admin> {
  const { auth } = AdminCloud.parse(parse(readFileSync('/etc/openstack/clouds.yaml', 'utf8'))).clouds['corral-admin'];
  const response = await fetch(`${auth.auth_url}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: auth.username, domain: { name: 'Default' }, password: auth.password } },
        },
        scope: { project: { name: auth.project_name, domain: { name: 'Default' } } },
      },
    }),
  });
  expect(response.status).toBe(201);
  const token = response.headers.get('x-subject-token') ?? '';
  const catalog = Catalog.parse(
    z.object({ token: z.object({ catalog: z.unknown() }) }).parse(await response.json()).token.catalog,
  );
  const endpoint = (type: string) => {
    const url = catalog.find((s) => s.type === type)?.endpoints.find((e) => e.interface === 'public')?.url;
    if (!url) throw new Error(`no public ${type} endpoint`);
    return url.replace(/\/$/, '');
  };
  const versions = { compute: 'compute 2.53', placement: 'placement 1.19' };
  return {
    get: (type, path) =>
      fetch(`${endpoint(type)}${path}`, {
        headers: { 'x-auth-token': token, accept: 'application/json', 'openstack-api-version': versions[type] },
      }),
  };
}

async function body<T>(response: Response, schema: z.ZodType<T>): Promise<T> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status} ${response.url}: ${text}`);
  return schema.parse(JSON.parse(text));
}

function bootstrap(...args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    execFile(PYTHON, [BOOTSTRAP, ...args], { timeout: 180_000 }, (error, stdout, stderr) =>
      done({ code: error ? 1 : 0, output: `${stdout}${stderr}` }),
    );
  });
}

const Aggregates = z.object({
  aggregates: z.array(
    z.object({
      name: z.string(),
      uuid: z.string(),
      hosts: z.array(z.string()),
      metadata: z.record(z.string(), z.string()),
    }),
  ),
});
const Providers = z.object({ resource_providers: z.array(z.object({ uuid: z.string(), name: z.string() })) });
const ProviderTraits = z.object({ traits: z.array(z.string()) });
const ProviderAggregates = z.object({ aggregates: z.array(z.string()) });

describe('bootstrap.py qemu from scratch (the first-run path)', () => {
  let admin: Admin;
  let node: string;
  let providerUuid: string;
  let restored = false;

  const qemuAggregate = async () =>
    (await body(await admin.get('compute', '/os-aggregates'), Aggregates)).aggregates.find(
      (aggregate) => aggregate.name === 'corral-qemu',
    );
  const providerTraits = async () =>
    (await body(await admin.get('placement', `/resource_providers/${providerUuid}/traits`), ProviderTraits)).traits;
  const providerAggregates = async () =>
    (await body(await admin.get('placement', `/resource_providers/${providerUuid}/aggregates`), ProviderAggregates))
      .aggregates;

  beforeAll(async () => {
    admin = await loginAdmin();
    const hypervisors = await body(
      await admin.get('compute', '/os-hypervisors/detail'),
      z.object({
        hypervisors: z.array(z.object({ hypervisor_hostname: z.string(), service: z.object({ host: z.string() }) })),
      }),
    );
    const found = hypervisors.hypervisors.find((hypervisor) => hypervisor.service.host === QEMU_HOST);
    if (!found) throw new Error(`no hypervisor of host ${QEMU_HOST}: is the libvirt compute set up?`);
    node = found.hypervisor_hostname;
    const providers = await body(
      await admin.get('placement', `/resource_providers?name=${encodeURIComponent(node)}`),
      Providers,
    );
    providerUuid = providers.resource_providers[0]?.uuid ?? '';
    expect(providerUuid).not.toBe('');
  });

  afterAll(async () => {
    // Whatever happened above, leave the isolation in place for the suites after this one.
    if (!restored && node) await bootstrap('qemu', node);
  });

  it('qemu-teardown removes the flavor, the aggregate, the trait and the provider membership', async () => {
    const before = await qemuAggregate();
    const teardown = await bootstrap('qemu-teardown');
    expect(teardown.output).not.toMatch(/Traceback|Error/);
    expect(teardown.code).toBe(0);

    expect((await admin.get('compute', `/flavors/${FLAVOR_ID}`)).status).toBe(404);
    expect(await qemuAggregate()).toBeUndefined();
    expect((await admin.get('placement', `/traits/${TRAIT}`)).status).toBe(404);
    expect(await providerTraits()).not.toContain(TRAIT);
    if (before) expect(await providerAggregates()).not.toContain(before.uuid);
    // A second teardown finds nothing to remove.
    expect((await bootstrap('qemu-teardown')).code).toBe(0);
  });

  it('qemu NODE makes them again, right, and a re-run changes nothing', { timeout: 240_000 }, async () => {
    const first = await bootstrap('qemu', node);
    expect(first.output).not.toMatch(/Traceback|Error/);
    expect(first.code).toBe(0);
    expect(first.output).toContain('created aggregate corral-qemu');
    expect(first.output).toContain('created flavor corral.qemu');
    restored = true;

    const flavor = await body(
      await admin.get('compute', `/flavors/${FLAVOR_ID}`),
      z.object({ flavor: z.object({ name: z.string(), vcpus: z.number(), ram: z.number(), disk: z.number() }) }),
    );
    expect(flavor.flavor).toEqual({ name: 'corral.qemu', vcpus: 1, ram: 512, disk: 1 });
    const specs = await body(
      await admin.get('compute', `/flavors/${FLAVOR_ID}/os-extra_specs`),
      z.object({ extra_specs: z.record(z.string(), z.string()) }),
    );
    expect(specs.extra_specs).toEqual({ [`trait:${TRAIT}`]: 'required' });

    const aggregate = await qemuAggregate();
    expect(aggregate?.hosts).toEqual([QEMU_HOST]);
    expect(aggregate?.metadata).toMatchObject({ [`trait:${TRAIT}`]: 'required' });
    expect((await admin.get('placement', `/traits/${TRAIT}`)).status).toBe(204);
    expect(await providerTraits()).toContain(TRAIT);
    // Placement's aggregate is Nova's, by uuid: the isolated-aggregate filter needs exactly this.
    expect(await providerAggregates()).toContain(aggregate?.uuid);

    const again = await bootstrap('qemu', node);
    expect(again.code).toBe(0);
    expect(again.output).not.toMatch(/created|added|trait .* on provider|in placement aggregate/);
    expect(again.output).toContain('qemu compute isolated');
  });
});
