import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadRequestError, NotFoundError, ProvisioningFailedError } from '../provider/errors.js';
import type { CreateServerRequest, Provider, Server } from '../provider/types.js';

/** What a provider package gives the contract suite. */
export interface ProviderContractSetup {
  provider: Provider;
  /** A flavor and an image that boot on this backend. */
  flavor: string;
  image: string;
  /** How the test reads back the user-data a server received (its seed ISO, Nova's user_data…). */
  readBootstrap(server: Server): Promise<string>;
  /**
   * A request that the backend accepts but that ends in ERROR with the backend's fault (an image that does
   * not boot, a flavor no host fits…). The suite prefixes `name` with its run tag (keep it short) and sets
   * its own `idempotencyKey`.
   */
  failingRequest(): CreateServerRequest;
  /** What the provider made for this server that still exists after delete (disks, ISOs, ports); [] = clean. */
  leaks?(server: Server): Promise<string[]>;
  /** How long a server may take to reach ACTIVE or ERROR (default 120 s). */
  settleTimeoutMs?: number;
  /** Polling interval while waiting (default 250 ms). */
  pollMs?: number;
  cleanup?(): Promise<void>;
}

/**
 * The provider contract: the behaviour every provider package must show against its real backend (and the
 * fake in core). Servers it makes are named `ctr-<run>-…` and deleted afterwards, even when a test fails.
 */
export function describeProviderContract(name: string, setup: () => Promise<ProviderContractSetup>): void {
  describe(`Provider contract: ${name}`, () => {
    let s: ProviderContractSetup;
    const run = randomBytes(3).toString('hex');
    let counter = 0;
    const made = new Set<string>();

    const request = (label: string, extra: Partial<CreateServerRequest> = {}): CreateServerRequest => {
      counter += 1;
      return {
        name: `ctr-${run}-${label}-${counter}`,
        idempotencyKey: `ctr-${run}-${counter}`,
        flavor: s.flavor,
        image: s.image,
        bootstrap: { userData: `#cloud-config\n# corral contract ${run}-${counter}\n`, configDrive: true },
        ...extra,
      };
    };

    const create = async (req: CreateServerRequest): Promise<Server> => {
      const server = await s.provider.createServer(req);
      made.add(server.id);
      return server;
    };

    /** Polls until `done(server)`; NotFound counts as gone (`undefined`). */
    const waitFor = async (id: string, done: (server: Server | undefined) => boolean): Promise<Server | undefined> => {
      const deadline = Date.now() + (s.settleTimeoutMs ?? 120_000);
      for (;;) {
        let server: Server | undefined;
        try {
          server = await s.provider.getServer(id);
        } catch (error) {
          if (!(error instanceof NotFoundError)) throw error;
        }
        if (done(server)) return server;
        if (Date.now() > deadline) {
          throw new Error(`server ${id} did not settle in time (last status ${server?.status ?? 'gone'})`);
        }
        await sleep(s.pollMs ?? 250);
      }
    };
    const settled = (server: Server | undefined) => server !== undefined && server.status !== 'BUILD';

    const remove = async (server: Server): Promise<void> => {
      await s.provider.deleteServer(server.id);
      // A backend may show DELETED for a moment (Nova does); gone means not found.
      await waitFor(server.id, (current) => current === undefined);
      made.delete(server.id);
    };

    beforeAll(async () => {
      s = await setup();
    });

    afterAll(async () => {
      if (!s) return;
      // Whatever a failed test left behind.
      for (const id of made) await s.provider.deleteServer(id).catch(() => undefined);
      for (const server of await s.provider.listServers().catch(() => [])) {
        if (server.name.startsWith(`ctr-${run}-`)) await s.provider.deleteServer(server.id).catch(() => undefined);
      }
      await s.cleanup?.();
    });

    it('creates one server for two creates with the same idempotency key', async () => {
      const req = request('idem');
      const first = await create(req);
      const second = await create(req);
      expect(second.id).toBe(first.id);
      expect((await s.provider.findServerByIdempotencyKey(req.idempotencyKey))?.id).toBe(first.id);
      const named = (await s.provider.listServers()).filter((server) => server.name === req.name);
      expect(named.map((server) => server.id)).toEqual([first.id]);
      await remove(first);
    });

    it('gets, lists and deletes a server, leaving nothing behind', async () => {
      const req = request('life');
      const created = await create(req);
      expect(created).toMatchObject({ name: req.name });
      expect(['BUILD', 'ACTIVE']).toContain(created.status);
      const active = await waitFor(created.id, settled);
      expect(active).toMatchObject({ id: created.id, name: req.name, status: 'ACTIVE' });
      expect(active?.fault).toBeUndefined();
      expect((await s.provider.listServers()).map((server) => server.id)).toContain(created.id);

      await remove(created);
      await expect(s.provider.getServer(created.id)).rejects.toBeInstanceOf(NotFoundError);
      expect((await s.provider.listServers()).map((server) => server.id)).not.toContain(created.id);
      expect(await s.provider.findServerByIdempotencyKey(req.idempotencyKey)).toBeUndefined();
      if (s.leaks) expect(await s.leaks(created)).toEqual([]);
    });

    it('reports a missing server as a typed not-found', async () => {
      const missing = '00000000-0000-4000-8000-000000000000';
      const get = await s.provider.getServer(missing).catch((error: unknown) => error);
      expect(get).toBeInstanceOf(NotFoundError);
      expect(get).toMatchObject({ code: 'NOT_FOUND', provider: s.provider.name });
      await expect(s.provider.deleteServer(missing)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('delivers the bootstrap payload to the server', async () => {
      const marker = `corral-bootstrap-${randomBytes(8).toString('hex')}`;
      const req = request('boot', { bootstrap: { userData: `#cloud-config\n# ${marker}\n`, configDrive: true } });
      const created = await create(req);
      const server = await waitFor(created.id, settled);
      expect(server?.status).toBe('ACTIVE');
      expect(await s.readBootstrap(server as Server)).toContain(marker);
      await remove(created);
    });

    it('surfaces a failing server as ERROR with the provider’s fault', async () => {
      const base = s.failingRequest();
      counter += 1;
      const failing = {
        ...base,
        name: `ctr-${run}-${base.name}`.slice(0, 63),
        idempotencyKey: `ctr-${run}-fail-${counter}`,
      };
      let server: Server | undefined;
      try {
        const created = await create(failing);
        server = await waitFor(created.id, settled);
        expect(server?.status).toBe('ERROR');
        expect(server?.fault?.message).toMatch(/\S/);
      } catch (error) {
        if (!(error instanceof ProvisioningFailedError)) throw error;
        expect(error.fault.message).toMatch(/\S/);
        if (error.serverId) server = await s.provider.getServer(error.serverId).catch(() => undefined);
      }
      if (server) {
        await remove(server);
        if (s.leaks) expect(await s.leaks(server)).toEqual([]);
      }
    });

    it('refuses bad input with a typed bad-request that names the field, making nothing', async () => {
      const before = (await s.provider.listServers()).length;
      const cases: [CreateServerRequest, RegExp][] = [
        [{ ...request('bad'), name: 'bad name!' }, /name/],
        [{ ...request('bad'), idempotencyKey: '' }, /idempotencyKey/],
        [{ ...request('bad'), volumeSizeGb: -1 }, /volumeSizeGb/],
        [{ ...request('bad'), image: '' }, /image/],
        [{ ...request('bad'), flavor: `no-such-flavor-${run}` }, /flavor/],
      ];
      for (const [req, field] of cases) {
        const error = await s.provider.createServer(req).catch((e: unknown) => e);
        expect(error, `request ${JSON.stringify({ ...req, bootstrap: undefined })}`).toBeInstanceOf(BadRequestError);
        expect((error as BadRequestError).message).toMatch(field);
      }
      expect((await s.provider.listServers()).length).toBe(before);
    });
  });
}
