/**
 * Core's provider contract suite against the real test cloud started by scripts/setup/60-openstack.sh
 * (Nova fake driver). It runs in a scratch project (the admin user as member; instances capped, cores and
 * RAM unlimited so a flavor no host fits reaches the scheduler and fails there with "No valid host was
 * found"). The bootstrap is read back as Nova's user_data (microversion >= 2.3, admin).
 */
import { describeProviderContract } from '@corral/core/testing/suites';
import { compute, createOpenStackProvider, identity } from '@corral/provider-openstack';
import { adminClient, adminProvider, FLAVOR, IMAGE, requireCloud, unique } from './cloud.js';

describeProviderContract('openstack (real one-node cloud, fake compute driver)', async () => {
  await requireCloud();
  const admin = adminClient();
  const keystone = admin.identity();
  const nova = await admin.compute();
  const undo: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const step of undo.reverse()) await step().catch(() => undefined);
  };
  try {
    const token = await admin.session.tokenDetails();
    const project = await identity.createProject(keystone, { name: unique('corral-contract') });
    undo.push(() => identity.deleteProject(keystone, project.id));
    const [member] = await identity.listRoles(keystone, 'member');
    if (!member) throw new Error('the test cloud has no "member" role');
    await identity.assignProjectRole(keystone, project.id, token.userId, member.id);
    await compute.updateQuotaSet(nova, project.id, { instances: 10, cores: -1, ram: -1 });
    undo.push(() => compute.deleteQuotaSet(nova, project.id));
    const huge = await compute.createFlavor(nova, {
      name: unique('corral-contract-huge'),
      vcpus: 1,
      ram: 2_000_000_000,
      disk: 1,
    });
    undo.push(() => compute.deleteFlavor(nova, huge.id));

    const { projectName: _name, projectDomainName: _domain, ...auth } = admin.auth;
    const provider = createOpenStackProvider({
      auth: { ...auth, projectId: project.id },
      defaultNetwork: 'none',
      pollIntervalMs: 500,
    });
    const reader = adminProvider();
    return {
      provider,
      flavor: FLAVOR,
      image: IMAGE,
      settleTimeoutMs: 120_000,
      pollMs: 500,
      readBootstrap: async (server) => (await reader.getServerUserData(server.id)) ?? '',
      failingRequest: () => ({
        name: 'nohost',
        idempotencyKey: 'set-by-suite',
        flavor: huge.id,
        image: IMAGE,
        bootstrap: { userData: '#cloud-config\n' },
      }),
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
});
