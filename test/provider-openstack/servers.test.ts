/**
 * Nova on the real test cloud started by scripts/setup/60-openstack.sh (fake compute driver, host corral-fake):
 * create → ACTIVE → reboot → delete, a scheduling failure surfacing Nova's fault, quota as a typed error,
 * and a create whose answer is lost finding its server by idempotency key. Everything made is removed.
 */
import { ProvisioningFailedError, QuotaExceededError } from '@corral/core';
import { compute, createOpenStackProvider, identity, type OpenStackProvider } from '@corral/provider-openstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, Cleanup, demoProvider, FLAVOR, IMAGE, requireCloud, unique } from './cloud.js';
import { startDropProxy } from './drop-proxy.js';

const cleanup = new Cleanup();
beforeAll(requireCloud);
afterAll(() => cleanup.run());

const bootstrap = { userData: '#cloud-config\nwrite_files: []\n', configDrive: true };

function track(provider: OpenStackProvider, id: string) {
  cleanup.add(`server ${id}`, () => provider.deleteServer(id));
}

/** A fresh project the admin user may create servers in, with the given Nova quota; removed afterwards. */
async function scratchProject(
  limits: Partial<Record<'instances' | 'cores' | 'ram', number>>,
): Promise<OpenStackProvider> {
  const admin = adminClient();
  const keystone = admin.identity();
  const token = await admin.session.tokenDetails();
  const project = await identity.createProject(keystone, {
    name: unique('corral-test'),
    description: 'provider-openstack integration test',
  });
  cleanup.add(`project ${project.id}`, () => identity.deleteProject(keystone, project.id));
  const [member] = await identity.listRoles(keystone, 'member');
  if (!member) throw new Error('the test cloud has no "member" role');
  await identity.assignProjectRole(keystone, project.id, token.userId, member.id);
  const nova = await admin.compute();
  await compute.updateQuotaSet(nova, project.id, limits);
  cleanup.add(`quota of ${project.id}`, () => compute.deleteQuotaSet(nova, project.id));
  const { projectName: _name, projectDomainName: _domain, ...auth } = admin.auth;
  return createOpenStackProvider({
    auth: { ...auth, projectId: project.id },
    defaultNetwork: 'none',
    pollIntervalMs: 500,
  });
}

describe('servers on the real cloud', () => {
  it('creates a server that reaches ACTIVE, reboots it, and deletes it (waiting for the 404)', async () => {
    const provider = demoProvider();
    const server = await provider.createServer({
      name: unique('corral-life'),
      idempotencyKey: unique('key'),
      flavor: FLAVOR,
      image: IMAGE,
      bootstrap,
    });
    track(provider, server.id);
    expect(server.status).toBe('BUILD');
    const active = await provider.waitForServer(server.id, { timeoutMs: 90_000 });
    expect(active.status).toBe('ACTIVE');
    expect(Object.keys(active.addresses)).toContain('corral-net');
    await provider.rebootServer(server.id);
    await provider.waitForServer(server.id, { timeoutMs: 60_000 });
    await provider.deleteServer(server.id);
    expect(await provider.findServerByIdempotencyKey(server.idempotencyKey ?? '')).toBeUndefined();
  });

  it("surfaces a scheduling failure as ProvisioningFailedError with Nova's fault", async () => {
    const admin = adminClient();
    const nova = await admin.compute();
    const huge = await compute.createFlavor(nova, {
      name: unique('corral-huge'),
      vcpus: 1,
      ram: 2_000_000_000,
      disk: 1, // zero-disk flavors are refused (403) for image-backed servers
    });
    cleanup.add(`flavor ${huge.id}`, () => compute.deleteFlavor(nova, huge.id));
    const provider = await scratchProject({ instances: 2, cores: -1, ram: -1 });
    const server = await provider.createServer({
      name: unique('corral-nohost'),
      idempotencyKey: unique('key'),
      flavor: huge.id,
      image: IMAGE,
      bootstrap,
    });
    track(provider, server.id);
    const error = await provider.waitForServer(server.id, { timeoutMs: 90_000 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProvisioningFailedError);
    expect((error as ProvisioningFailedError).fault.message).toContain('No valid host was found');
    expect((error as ProvisioningFailedError).serverId).toBe(server.id);
  });

  it("turns Nova's quota 403 into a QuotaExceededError", async () => {
    const provider = await scratchProject({ instances: 0 });
    const error = await provider
      .createServer({
        name: unique('corral-quota'),
        idempotencyKey: unique('key'),
        flavor: FLAVOR,
        image: IMAGE,
        bootstrap,
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(QuotaExceededError);
    expect((error as QuotaExceededError).status).toBe(403);
    expect((error as Error).message).toMatch(/Quota exceeded for instances/);
  });

  it('finds the server by key when the create answer is dropped: exactly one server exists', async () => {
    const direct = demoProvider();
    const nova = await direct.client.compute();
    const proxy = await startDropProxy(
      nova.endpoint,
      (method, path) => method === 'POST' && /\/servers$/.test(path.split('?')[0] ?? ''),
    );
    cleanup.add('drop proxy', () => proxy.close());
    const viaProxy = demoProvider({
      endpointOverrides: { compute: `${proxy.url}${new URL(nova.endpoint).pathname}` },
      recoveryWindowMs: 30_000,
    });
    const name = unique('corral-idem');
    const key = unique('key');
    const server = await viaProxy.createServer({ name, idempotencyKey: key, flavor: FLAVOR, image: IMAGE, bootstrap });
    track(direct, server.id);
    expect(proxy.dropped()).toBe(1);
    const matching = (await direct.listServers()).filter((candidate) => candidate.idempotencyKey === key);
    expect(matching.map((candidate) => candidate.id)).toEqual([server.id]);
    expect((await direct.findServerByIdempotencyKey(key))?.id).toBe(server.id);
  });
});
