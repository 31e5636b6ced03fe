/**
 * Keystone against the real test cloud started by scripts/setup/60-openstack.sh: password and application
 * credential auth, catalog selection, a token revoked mid-run, typed 404s and paging across pages.
 */
import { AuthError, NotFoundError } from '@corral/core';
import { collect, compute, identity, image, OpenStackClient } from '@corral/provider-openstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_CLOUD, adminClient, Cleanup, DEMO_CLOUD, demoProvider, requireCloud, unique } from './cloud.js';

const cleanup = new Cleanup();
beforeAll(requireCloud);
afterAll(() => cleanup.run());

describe('Keystone auth on the real cloud', () => {
  it('authenticates with a password, project-scoped, and selects endpoints from the catalog', async () => {
    const client = new OpenStackClient({ cloud: DEMO_CLOUD });
    const token = await client.session.tokenDetails();
    expect(token.projectId).toBeTruthy();
    expect(token.expiresAt.getTime()).toBeGreaterThan(Date.now());
    expect((await client.compute()).endpoint).toMatch(/^http:\/\/127\.0\.0\.1:8774\/v2\.1/);
    expect((await client.image()).endpoint).toBe('http://127.0.0.1:9292');
    expect((await client.network()).endpoint).toBe('http://127.0.0.1:9696');
    expect(client.computeMicroversion).toBe('2.79');
    const hasCinder = await client.hasService('volumev3');
    expect(hasCinder).toBe(token.catalog.some((entry) => ['volumev3', 'block-storage'].includes(entry.type)));
  });

  it('refuses a wrong password with a typed AuthError', async () => {
    const client = new OpenStackClient({
      auth: {
        authUrl: 'http://127.0.0.1:5000/v3',
        username: 'demo',
        password: 'not-the-password',
        userDomainName: 'Default',
        projectName: 'demo',
        projectDomainName: 'Default',
      },
    });
    await expect(client.session.token()).rejects.toBeInstanceOf(AuthError);
  });

  it('authenticates with an application credential created through the API', async () => {
    const demo = new OpenStackClient({ cloud: DEMO_CLOUD });
    const token = await demo.session.tokenDetails();
    const credential = await identity.createApplicationCredential(demo.identity(), token.userId, {
      name: unique('corral-test-ac'),
    });
    cleanup.add('application credential', () =>
      identity.deleteApplicationCredential(demo.identity(), token.userId, credential.id),
    );
    const viaCredential = new OpenStackClient({
      auth: {
        authUrl: 'http://127.0.0.1:5000/v3',
        applicationCredentialId: credential.id,
        applicationCredentialSecret: credential.secret,
      },
    });
    const issued = await viaCredential.session.tokenDetails();
    expect(issued.projectId).toBe(token.projectId);
    const flavors = await collect(compute.listFlavors(await viaCredential.compute()));
    expect(flavors.map((flavor) => flavor.name)).toEqual(expect.arrayContaining(['m1.tiny', 'm1.small']));
  });

  it('authenticates with an existing token, and unscoped with a password', async () => {
    const demo = new OpenStackClient({ cloud: DEMO_CLOUD });
    const base = await demo.session.tokenDetails();
    const viaToken = new OpenStackClient({
      auth: { authUrl: 'http://127.0.0.1:5000/v3', token: base.id, projectId: base.projectId },
    });
    const issued = await viaToken.session.tokenDetails();
    expect(issued.id).not.toBe(base.id);
    expect(issued.projectId).toBe(base.projectId);
    expect((await collect(compute.listFlavors(await viaToken.compute()))).length).toBeGreaterThan(0);

    const unscoped = new OpenStackClient({ auth: { ...demo.auth, unscoped: true } });
    const bare = await unscoped.session.tokenDetails();
    expect(bare.projectId).toBeUndefined();
    expect(bare.catalog).toEqual([]);
    await expect(unscoped.compute()).rejects.toBeInstanceOf(AuthError);
  });

  it('re-acquires a token revoked mid-run, once and transparently', async () => {
    const provider = demoProvider();
    await provider.listFlavors();
    const session = provider.client.session;
    expect(session.authentications).toBe(1);
    const revoked = await session.token();
    await identity.revokeToken(adminClient().identity(), revoked);
    // Keystone itself checks revocations at once (services may cache a validation for a while).
    const demoIdentity = provider.client.identity();
    const catalog = await demoIdentity.get<{ catalog: unknown[] }>(`${demoIdentity.endpoint}/auth/catalog`);
    expect(catalog.body.catalog.length).toBeGreaterThan(0);
    expect(session.authentications).toBe(2);
    expect(await session.token()).not.toBe(revoked);
    await provider.listFlavors();
    expect(session.authentications).toBe(2);
  });

  it('answers a missing server with a typed NotFoundError carrying the request id', async () => {
    const provider = demoProvider();
    const error = await provider.getServer('00000000-0000-4000-8000-000000000000').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).requestId).toMatch(/^req-/);
    expect((error as Error).message).toContain('could not be found');
    const glanceError = await image
      .getImage(await provider.client.image(), '00000000-0000-4000-8000-000000000000')
      .catch((caught: unknown) => caught);
    expect(glanceError).toBeInstanceOf(NotFoundError);
    expect((glanceError as Error).message).toContain('No image found');
  });

  it('follows flavors_links and Glance next links across more than one page', async () => {
    const admin = new OpenStackClient({ cloud: ADMIN_CLOUD });
    const pages: number[] = [];
    const flavors = await collect(
      compute.listFlavors(await admin.compute(), { query: { limit: 1 }, onPage: (_url, count) => pages.push(count) }),
    );
    const all = await collect(compute.listFlavors(await admin.compute()));
    expect(flavors.map((flavor) => flavor.id).sort()).toEqual(all.map((flavor) => flavor.id).sort());
    expect(pages.filter((count) => count > 0).length).toBe(all.length);
    expect(all.length).toBeGreaterThanOrEqual(2);

    const glance = await admin.image();
    const extra = await image.createImage(glance, { name: unique('corral-test-page'), diskFormat: 'raw' });
    cleanup.add('image', () => image.deleteImage(glance, extra.id));
    const imagePages: number[] = [];
    const images = await collect(
      image.listImages(glance, { query: { limit: 1 }, onPage: (_url, count) => imagePages.push(count) }),
    );
    expect(images.map((entry) => entry.id)).toContain(extra.id);
    expect(imagePages.length).toBeGreaterThanOrEqual(2);
  });
});
