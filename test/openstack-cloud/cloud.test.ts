// Smoke test of the one-node OpenStack test cloud itself, with plain fetch (no corral client code), so a
// broken cloud is told apart from a broken client. Needs scripts/setup/60-openstack.sh (run by
// scripts/setup/all.sh), which starts keystone :5000, glance :9292, placement :8778, nova :8774 and
// neutron :9696 and cinder :8776 (fake volume driver) on 127.0.0.1, a fake compute corral-fake and a libvirt
// compute corral-qemu, and writes /etc/openstack/clouds.yaml.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import * as z from 'zod';

const CloudsFile = z.object({
  clouds: z.record(
    z.string(),
    z.object({
      auth: z.object({
        auth_url: z.string(),
        username: z.string(),
        password: z.string(),
        project_name: z.string(),
        user_domain_name: z.string(),
        project_domain_name: z.string(),
      }),
      region_name: z.string(),
      interface: z.string(),
    }),
  ),
});
type Cloud = z.infer<typeof CloudsFile>['clouds'][string];

const Catalog = z.array(
  z.object({
    type: z.string(),
    endpoints: z.array(z.object({ interface: z.string(), region_id: z.string(), url: z.string() })),
  }),
);
const TokenBody = z.object({
  token: z.object({ catalog: Catalog, roles: z.array(z.object({ name: z.string() })) }),
});
const ServerBody = z.object({
  server: z.object({
    id: z.string(),
    status: z.string(),
    addresses: z.record(z.string(), z.array(z.object({ addr: z.string() }))).optional(),
    fault: z.object({ message: z.string() }).optional(),
  }),
});

interface Session {
  token: string;
  endpoint: (type: string) => string;
  roles: string[];
}

const clouds = CloudsFile.parse(parse(readFileSync('/etc/openstack/clouds.yaml', 'utf8'))).clouds;
const NAME_PREFIX = `corral-smoke-${process.pid}-`;

async function login(cloud: Cloud | undefined): Promise<Session> {
  if (!cloud) throw new Error('cloud missing from /etc/openstack/clouds.yaml');
  const { auth } = cloud;
  const response = await fetch(`${auth.auth_url}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: {
            user: { name: auth.username, domain: { name: auth.user_domain_name }, password: auth.password },
          },
        },
        scope: { project: { name: auth.project_name, domain: { name: auth.project_domain_name } } },
      },
    }),
  });
  expect(response.status).toBe(201);
  const token = response.headers.get('x-subject-token');
  if (!token) throw new Error('no X-Subject-Token header');
  const body = TokenBody.parse(await response.json());
  const endpoint = (type: string): string => {
    const url = body.token.catalog
      .find((service) => service.type === type)
      ?.endpoints.find((e) => e.interface === cloud.interface && e.region_id === cloud.region_name)?.url;
    if (!url) throw new Error(`no ${cloud.interface} ${type} endpoint in ${cloud.region_name}`);
    return url.replace(/\/$/, '');
  };
  return { token, endpoint, roles: body.token.roles.map((role) => role.name) };
}

async function call(session: Session, type: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${session.endpoint(type)}${path}`, {
    ...init,
    headers: {
      'x-auth-token': session.token,
      accept: 'application/json',
      'content-type': 'application/json',
      // 2.37+ requires `networks` on create, which is what the provider sends. Cinder answers 400 to a
      // version header naming another service, so only compute gets one.
      ...(type === 'compute' ? { 'openstack-api-version': 'compute 2.37' } : {}),
    },
  });
}

async function json<T>(response: Response, schema: z.ZodType<T>): Promise<T> {
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status} ${response.url}: ${text}`);
  return schema.parse(JSON.parse(text));
}

async function waitForServer(session: Session, id: string, until: (status: string | 404) => boolean) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const response = await call(session, 'compute', `/servers/${id}`);
    const status = response.status === 404 ? 404 : (await json(response, ServerBody)).server.status;
    if (until(status)) return status;
    if (Date.now() > deadline) throw new Error(`server ${id} still ${status} after 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe('openstack test cloud (scripts/setup/60-openstack.sh)', () => {
  let demo: Session;
  let admin: Session;

  beforeAll(async () => {
    demo = await login(clouds['corral-demo']);
    admin = await login(clouds['corral-admin']);
  });

  afterAll(async () => {
    // Delete whatever this run created, even after a failure (the deletes run side by side).
    if (!demo) return;
    const list = await call(demo, 'compute', `/servers?name=${encodeURIComponent(`^${NAME_PREFIX}`)}`);
    const body = z.object({ servers: z.array(z.object({ id: z.string() })) }).parse(await list.json());
    await Promise.all(
      body.servers.map(async (server) => {
        await call(demo, 'compute', `/servers/${server.id}`, { method: 'DELETE' });
        await waitForServer(demo, server.id, (status) => status === 404);
      }),
    );
  });

  it('issues project tokens whose catalog has every core service on loopback', () => {
    for (const type of ['identity', 'compute', 'image', 'network', 'placement', 'volumev3', 'block-storage']) {
      expect(demo.endpoint(type)).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
    }
    expect(demo.endpoint('compute')).toBe('http://127.0.0.1:8774/v2.1');
    expect(demo.roles).toContain('member');
    expect(admin.roles).toContain('admin');
  });

  it('has the fixed flavors, the test image and the shared network', async () => {
    const Flavor = z.object({
      flavor: z.object({ name: z.string(), vcpus: z.number(), ram: z.number(), disk: z.number() }),
    });
    expect((await json(await call(demo, 'compute', '/flavors/1'), Flavor)).flavor).toEqual({
      name: 'm1.tiny',
      vcpus: 1,
      ram: 512,
      disk: 1,
    });
    expect((await json(await call(demo, 'compute', '/flavors/2'), Flavor)).flavor).toMatchObject({
      name: 'm1.small',
      ram: 1024,
      disk: 2,
    });

    const images = await json(
      await call(demo, 'image', '/v2/images?name=corral-test-image'),
      z.object({ images: z.array(z.object({ status: z.string(), visibility: z.string() })) }),
    );
    expect(images.images).toEqual([expect.objectContaining({ status: 'active', visibility: 'public' })]);

    const networks = await json(
      await call(demo, 'network', '/v2.0/networks?name=corral-net'),
      z.object({ networks: z.array(z.object({ shared: z.boolean(), subnets: z.array(z.string()) })) }),
    );
    expect(networks.networks).toHaveLength(1);
    expect(networks.networks[0]).toMatchObject({ shared: true });
    expect(networks.networks[0]?.subnets).toHaveLength(1);
  });

  it('has the libvirt compute corral-qemu up, in an aggregate only its trait-requiring flavor may enter', {
    timeout: 240_000,
  }, async () => {
    const listServices = async () =>
      json(
        await call(admin, 'compute', '/os-services?binary=nova-compute'),
        z.object({ services: z.array(z.object({ host: z.string(), state: z.string(), status: z.string() })) }),
      );
    // Nova's libvirt driver disables its service while its libvirtd connection is down (an earlier suite may
    // have restarted the shared libvirtd) and enables it again on reconnecting, within a periodic task.
    let services = await listServices();
    const deadline = Date.now() + 180_000;
    const qemuReady = () => services.services.some((s) => s.host === 'corral-qemu' && s.status === 'enabled');
    while (!qemuReady() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      services = await listServices();
    }
    expect(services.services).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ host: 'corral-fake', state: 'up', status: 'enabled' }),
        expect.objectContaining({ host: 'corral-qemu', state: 'up', status: 'enabled' }),
      ]),
    );
    const aggregates = await json(
      await call(admin, 'compute', '/os-aggregates'),
      z.object({
        aggregates: z.array(
          z.object({ name: z.string(), hosts: z.array(z.string()), metadata: z.record(z.string(), z.string()) }),
        ),
      }),
    );
    expect(aggregates.aggregates.find((aggregate) => aggregate.name === 'corral-qemu')).toMatchObject({
      hosts: ['corral-qemu'],
      metadata: { 'trait:CUSTOM_CORRAL_QEMU': 'required' },
    });
    const specs = await json(
      await call(admin, 'compute', '/flavors/corral-qemu/os-extra_specs'),
      z.object({ extra_specs: z.record(z.string(), z.string()) }),
    );
    expect(specs.extra_specs).toEqual({ 'trait:CUSTOM_CORRAL_QEMU': 'required' });
  });

  it('creates a volume on the fake Cinder backend and deletes it', async () => {
    const Volume = z.object({ volume: z.object({ id: z.string(), status: z.string() }) });
    const created = await call(demo, 'volumev3', '/volumes', {
      method: 'POST',
      body: JSON.stringify({ volume: { size: 1, name: `${NAME_PREFIX}volume` } }),
    });
    const { id } = (await json(created, Volume)).volume;
    try {
      const deadline = Date.now() + 60_000;
      let status = 'creating';
      while (status === 'creating' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        status = (await json(await call(demo, 'volumev3', `/volumes/${id}`), Volume)).volume.status;
      }
      expect(status).toBe('available');
    } finally {
      expect((await call(demo, 'volumev3', `/volumes/${id}`, { method: 'DELETE' })).status).toBe(202);
    }
  });

  it.each([
    ['on corral-net', 'net'],
    ['with networks "none"', 'none'],
  ] as const)(
    'runs a server %s on the fake driver to ACTIVE, then deletes it',
    async (_label, kind) => {
      const images = await json(
        await call(demo, 'image', '/v2/images?name=corral-test-image'),
        z.object({ images: z.array(z.object({ id: z.string() })) }),
      );
      let networks: 'none' | { uuid: string }[] = 'none';
      if (kind === 'net') {
        const list = await json(
          await call(demo, 'network', '/v2.0/networks?name=corral-net'),
          z.object({ networks: z.array(z.object({ id: z.string() })) }),
        );
        networks = list.networks.map((network) => ({ uuid: network.id }));
      }
      const created = await call(demo, 'compute', '/servers', {
        method: 'POST',
        body: JSON.stringify({
          server: { name: `${NAME_PREFIX}${kind}`, flavorRef: '1', imageRef: images.images[0]?.id, networks },
        }),
      });
      expect(created.status).toBe(202);
      const { id } = (await json(created, z.object({ server: z.object({ id: z.string() }) }))).server;

      const status = await waitForServer(demo, id, (s) => s === 'ACTIVE' || s === 'ERROR');
      const server = (await json(await call(demo, 'compute', `/servers/${id}`), ServerBody)).server;
      expect(server.fault?.message ?? status).toBe('ACTIVE');
      const addresses = Object.values(server.addresses ?? {}).flat();
      if (kind === 'net') expect(addresses[0]?.addr).toMatch(/^192\.168\.77\./);
      else expect(addresses).toEqual([]);

      expect((await call(demo, 'compute', `/servers/${id}`, { method: 'DELETE' })).status).toBe(204);
      expect(await waitForServer(demo, id, (s) => s === 404)).toBe(404);
    },
    300_000,
  );
});
