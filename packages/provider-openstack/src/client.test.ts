import { AuthError, NotFoundError, ProviderUnavailableError, RateLimitedError } from '@corral/core/contract';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OpenStackClient } from './client.js';
import { openStackContext } from './common/errors.js';
import { collect } from './common/pagination.js';
import { listFlavors } from './compute/flavors/requests.js';
import { getServer, listServers } from './compute/servers/requests.js';
import { getImage, listImages } from './image/images/requests.js';
import { FakeCloud } from './testing/fake-cloud.js';

let cloud: FakeCloud;
const auth = () => ({
  authUrl: cloud.authUrl,
  username: 'demo',
  password: 'secret',
  userDomainName: 'Default',
  projectName: 'demo',
  projectDomainName: 'Default',
});

beforeEach(async () => {
  cloud = await new FakeCloud().start();
});
afterEach(async () => {
  await cloud.stop();
});

describe('OpenStackClient', () => {
  it('authenticates once for many calls and negotiates the compute microversion', async () => {
    const client = new OpenStackClient({ auth: auth() });
    const compute = await client.compute();
    await Promise.all(Array.from({ length: 10 }, () => collect(listFlavors(compute))));
    expect(cloud.authCount).toBe(1);
    expect(client.computeMicroversion).toBe('2.79');
    const call = cloud.requests.find((request) => request.path.endsWith('/flavors/detail'));
    expect(call?.headers['openstack-api-version']).toBe('compute 2.79');
    expect(call?.headers['x-openstack-nova-api-version']).toBe('2.79');
  });

  it('takes the cloud maximum when it is lower than wanted', async () => {
    await cloud.stop();
    cloud = await new FakeCloud({ maxMicroversion: '2.60' }).start();
    const client = new OpenStackClient({ auth: auth() });
    await client.compute();
    expect(client.computeMicroversion).toBe('2.60');
  });

  it('re-authenticates once, shared by concurrent callers, after the token is revoked', async () => {
    const client = new OpenStackClient({ auth: auth() });
    const compute = await client.compute();
    cloud.revokeAllTokens();
    await Promise.all(Array.from({ length: 20 }, () => collect(listFlavors(compute))));
    expect(cloud.authCount).toBe(2);
    expect(client.session.authentications).toBe(2);
  });

  it('turns a 401 that survives re-authentication into an AuthError', async () => {
    const client = new OpenStackClient({ auth: auth() });
    const compute = await client.compute();
    cloud.intercept((request) =>
      request.path.endsWith('/flavors/detail') ? { status: 401, body: { error: { message: 'nope' } } } : undefined,
    );
    await expect(collect(listFlavors(compute))).rejects.toBeInstanceOf(AuthError);
    expect(cloud.authCount).toBe(2);
  });

  it('refuses bad credentials with an AuthError that never shows the password', async () => {
    const client = new OpenStackClient({ auth: { ...auth(), password: 'wrong-password' } });
    const error = await client.compute().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthError);
    expect(String((error as Error).message)).not.toContain('wrong-password');
  });

  it('renews the token before it expires', async () => {
    await cloud.stop();
    cloud = await new FakeCloud({ tokenLifetimeMs: 400 }).start();
    const client = new OpenStackClient({ auth: auth(), refreshMarginMs: 300 });
    const compute = await client.compute();
    await collect(listFlavors(compute));
    await new Promise((resolve) => setTimeout(resolve, 250));
    await collect(listFlavors(compute));
    expect(cloud.authCount).toBe(2);
  });

  it('retries an idempotent GET after 503 + Retry-After, and never a POST', async () => {
    const client = new OpenStackClient({ auth: auth(), retry: { baseDelayMs: 5 } });
    const compute = await client.compute();
    let failures = 0;
    const stop = cloud.intercept((request) =>
      request.method === 'GET' && request.path.endsWith('/flavors/detail') && failures++ < 2
        ? { status: 503, headers: { 'retry-after': '0' }, body: { e: { message: 'busy' } } }
        : undefined,
    );
    expect((await collect(listFlavors(compute))).length).toBeGreaterThan(0);
    expect(failures).toBe(3);
    stop();
    let posts = 0;
    cloud.intercept((request) =>
      request.method === 'POST' && request.path.endsWith('/servers') && ++posts
        ? { status: 503, body: { e: { message: 'busy' } } }
        : undefined,
    );
    await expect(compute.post(compute.url('servers'), { server: {} })).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(posts).toBe(1);
  });

  it('gives up at once when Retry-After is above the cap', async () => {
    const client = new OpenStackClient({ auth: auth(), retry: { maxRetryAfterMs: 1000 } });
    const compute = await client.compute();
    cloud.intercept((request) =>
      request.path.endsWith('/flavors/detail')
        ? { status: 429, headers: { 'retry-after': '60' }, body: { e: { message: 'slow' } } }
        : undefined,
    );
    const error = await collect(listFlavors(compute)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(60_000);
  });

  it('puts service, method, URL, status and request id on a 404', async () => {
    const client = new OpenStackClient({ auth: auth() });
    const error = await getServer(await client.compute(), 'missing').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).requestId).toMatch(/^req-/);
    expect(openStackContext(error)).toMatchObject({ service: 'compute', method: 'GET', status: 404 });
    expect((error as Error).message).toContain('Instance missing could not be found.');
  });

  it('asks Glance for JSON so its errors are readable', async () => {
    const client = new OpenStackClient({ auth: auth() });
    const error = await getImage(await client.image(), 'nope').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toContain('No image found with ID nope');
    expect((error as Error).message).not.toContain('<br');
  });

  it('follows servers_links and Glance relative next links across pages', async () => {
    const client = new OpenStackClient({ auth: auth() });
    const compute = await client.compute();
    const pages: string[] = [];
    const flavors = await collect(listFlavors(compute, { query: { limit: 1 }, onPage: (url) => pages.push(url) }));
    expect(flavors.map((flavor) => flavor.id)).toEqual(['1', '2', '99']);
    expect(pages.length).toBe(4); // three full pages and an empty last one
    const glance = await client.image();
    for (const name of ['a', 'b']) cloud.images.set(name, { id: name, name, status: 'active' });
    const imagePages: string[] = [];
    const images = await collect(listImages(glance, { query: { limit: 1 }, onPage: (url) => imagePages.push(url) }));
    expect(images).toHaveLength(3);
    expect(imagePages).toHaveLength(3);
  });

  it('stops a paging loop with an error instead of hanging or truncating', async () => {
    const client = new OpenStackClient({ auth: auth() });
    const compute = await client.compute();
    const self = `${cloud.url}/compute/v2.1/servers/detail?limit=1`;
    cloud.intercept((request) =>
      request.path.endsWith('/servers/detail')
        ? { status: 200, body: { servers: [{ id: 'x' }], servers_links: [{ rel: 'next', href: self }] } }
        : undefined,
    );
    await expect(collect(listServers(compute, { query: { limit: 1 } }))).rejects.toThrow(/already read/);
    await expect(collect(listFlavors(compute, { query: { limit: 1 }, maxPages: 2 }))).rejects.toThrow(/maxPages=2/);
  });

  it('uses a per-service URL override instead of the catalog', async () => {
    const client = new OpenStackClient({ auth: auth(), endpointOverrides: { volumev3: 'http://127.0.0.1:1/v3/x' } });
    expect((await client.blockStorage()).endpoint).toBe('http://127.0.0.1:1/v3/x');
    expect(await client.hasService('block-storage')).toBe(true);
  });

  it('does not resend a one-shot stream body after a 401', async () => {
    const client = new OpenStackClient({ auth: auth() });
    const glance = await client.image();
    let puts = 0;
    cloud.intercept((request) =>
      request.method === 'PUT' && ++puts ? { status: 401, body: { error: { message: 'expired' } } } : undefined,
    );
    const { Readable } = await import('node:stream');
    await expect(
      glance.request('PUT', `${glance.endpoint}/v2/images/x/file`, { body: Readable.from([Buffer.from('abc')]) }),
    ).rejects.toBeInstanceOf(AuthError);
    expect(puts).toBe(1);
    await expect(
      glance.request('PUT', `${glance.endpoint}/v2/images/x/file`, { body: Buffer.from('abc') }),
    ).rejects.toBeInstanceOf(AuthError);
    expect(puts).toBe(3); // a Buffer is sent again once, after re-authenticating
  });
});
