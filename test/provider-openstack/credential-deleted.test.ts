/**
 * An application credential deleted while corral runs, on the real test cloud (scripts/setup/60-openstack.sh).
 * When corral must authenticate again (its token expired, or was refused), Keystone answers 404 "Could not
 * find Application Credential". That is an authentication failure: getServer and deleteServer must throw
 * AuthError (never NotFoundError, which core reads as "the server is gone"), the server must still be in Nova,
 * and core's delete must end in DELETE_ERROR with a fault, not DELETED.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthError, createDefaultCatalog, NotFoundError, startEmbeddedControlPlane } from '@corral/core';
import { createOpenStackProvider, identity, OpenStackClient } from '@corral/provider-openstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, DEMO_CLOUD, demoProvider, FLAVOR, IMAGE, requireCloud, unique } from './cloud.js';

const cleanup = new Cleanup();
beforeAll(requireCloud);
afterAll(() => cleanup.run());

/** A provider that authenticates with a fresh application credential of the demo user, and how to delete it. */
async function providerWithCredential() {
  const demo = new OpenStackClient({ cloud: DEMO_CLOUD });
  const userId = (await demo.session.tokenDetails()).userId;
  const credential = await identity.createApplicationCredential(demo.identity(), userId, {
    name: unique('corral-test-ac-deleted'),
  });
  const remove = () => identity.deleteApplicationCredential(demo.identity(), userId, credential.id);
  cleanup.add('application credential', remove);
  const provider = createOpenStackProvider({
    auth: {
      authUrl: 'http://127.0.0.1:5000/v3',
      applicationCredentialId: credential.id,
      applicationCredentialSecret: credential.secret,
    },
    pollIntervalMs: 500,
  });
  /** Deletes the credential, then drops the provider's token as its expiry would: the next call authenticates. */
  const deleteCredentialAndExpireToken = async () => {
    await remove();
    provider.client.session.invalidate(await provider.client.session.token());
  };
  return { provider, deleteCredentialAndExpireToken };
}

describe('a deleted application credential', () => {
  it('makes getServer and deleteServer throw AuthError, and the server stays in Nova', async () => {
    const { provider, deleteCredentialAndExpireToken } = await providerWithCredential();
    const name = unique('corral-test-acdel');
    const server = await provider.createServer({
      name,
      idempotencyKey: name,
      flavor: FLAVOR,
      image: IMAGE,
      bootstrap: { userData: '#cloud-config\n' },
    });
    cleanup.add(`server ${server.id}`, () => demoProvider().deleteServer(server.id));
    await provider.waitForServer(server.id);

    await deleteCredentialAndExpireToken();
    for (const call of [() => provider.getServer(server.id), () => provider.deleteServer(server.id)]) {
      const error = await call().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AuthError);
      expect(error).not.toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toMatch(/authentication failed: .*Could not find Application Credential/);
    }
    expect((await demoProvider().getServer(server.id)).status).toBe('ACTIVE');
  });

  it("leaves core's delete in DELETE_ERROR with a fault, the instance not DELETED and the server in Nova", {
    timeout: 180_000,
  }, async () => {
    const { provider, deleteCredentialAndExpireToken } = await providerWithCredential();
    const stateDir = await mkdtemp(join(tmpdir(), 'corral-acdel-'));
    cleanup.add('state dir', () => rm(stateDir, { recursive: true, force: true }));
    const embedded = await startEmbeddedControlPlane({
      stateDir,
      providers: { openstack: provider },
      datastores: createDefaultCatalog({ images: { openstack: IMAGE } }),
      // Nova's fake driver boots nothing: no guest answers the delete's best-effort stop call.
      controlPlane: { timeouts: { guestCallMs: 1_000 } },
    });
    cleanup.add('control plane', () => embedded.close());
    const { instances } = embedded.controlPlane;
    const created = await instances.create({ name: unique('acdel'), flavor: FLAVOR, datastore: { type: 'redis' } });
    const building = await instances.waitFor(created.id, (view) => view.serverId !== null || view.status === 'ERROR', {
      timeoutMs: 120_000,
    });
    const serverId = building.serverId;
    if (serverId === null) throw new Error(`no server was made: ${building.fault?.message ?? building.status}`);
    cleanup.add(`server ${serverId}`, () => demoProvider().deleteServer(serverId));
    await provider.waitForServer(serverId);

    await deleteCredentialAndExpireToken();
    await instances.delete(created.id, { force: true });
    const ended = await instances.waitFor(
      created.id,
      (view) => view.status === 'DELETED' || view.taskStatus === 'DELETE_ERROR',
      { timeoutMs: 120_000 },
    );
    expect(ended.status).not.toBe('DELETED');
    expect(ended.taskStatus).toBe('DELETE_ERROR');
    expect(ended.fault?.message).toMatch(/Could not find Application Credential/);
    expect((await demoProvider().getServer(serverId)).status).toBe('ACTIVE');
  });
});
