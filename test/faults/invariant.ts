/**
 * The invariant every fault suite ends with:
 *   - every instance is ACTIVE (task NONE) or in a clear error: an *_ERROR task status carrying a fault;
 *   - no duplicate or leaked server: the FakeProvider holds exactly one server per live instance that has one,
 *     each the one the store names, and none for deleted instances; no stray artifacts (disks, seeds, volumes);
 *   - no leaked certificate: every deleted instance's certificates are revoked (in the store and the broker's CRL);
 *   - no status update lost: each running fake guest's last reported status is what the store shows.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Instance, Provider, Store } from '@corral/core';
import type { RevocationList } from '@corral/core/pki';
import { expect } from 'vitest';

/**
 * What the invariant reads: the store, the broker's revocation list, the provider (FakeProvider also lists its
 * artifacts; a real provider's leftovers are the suite's to check) and, with fake guests, their last status.
 */
export interface InvariantEnv {
  store: Store;
  revocations: RevocationList;
  provider: Provider & { resources?(): string[] };
  fleet?: { guests: Map<string, { instanceId: string; status: string; connected: boolean }> };
}

export interface InvariantReport {
  active: number;
  errored: number;
  deleted: number;
  servers: number;
}

export async function allInstances(env: Pick<InvariantEnv, 'store'>): Promise<Instance[]> {
  const page = await env.store.listInstances({ includeDeleted: true, limit: 1000 });
  return page.items;
}

export async function checkInvariant(env: InvariantEnv): Promise<InvariantReport> {
  const instances = await allInstances(env);
  const servers = await env.provider.listServers();
  const byId = new Map(servers.map((s) => [s.id, s]));
  const live = instances.filter((i) => i.deletedAt === null);
  const deleted = instances.filter((i) => i.deletedAt !== null);
  let active = 0;
  let errored = 0;
  // A status may lag a heartbeat interval behind a reconnect: give the conductor a few beats to catch up.
  const deadline = Date.now() + 3_000;
  let settledLive = live;
  while (Date.now() < deadline && settledLive.some((i) => i.taskStatus === 'NONE' && i.serviceStatus !== 'HEALTHY')) {
    await sleep(200);
    settledLive = (await allInstances(env)).filter((i) => i.deletedAt === null);
  }
  for (const instance of settledLive) {
    const server = instance.serverId === null ? undefined : byId.get(instance.serverId);
    const where = `${instance.name} (${instance.taskStatus}, server ${server?.status}, service ${instance.serviceStatus}, guest reports ${[...(env.fleet?.guests.values() ?? [])].find((g) => g.instanceId === instance.id)?.status})`;
    if (instance.taskStatus === 'NONE') {
      // The store does not mirror the server's status: the provider is asked.
      expect(server?.status, where).toBe('ACTIVE');
      expect(instance.serviceStatus, where).toBe('HEALTHY');
      active++;
    } else {
      expect(instance.taskStatus, where).toMatch(/ERROR/);
      expect(instance.fault?.message, `${where} has a fault`).toBeTruthy();
      errored++;
    }
  }

  // Servers: one per live instance that has one, the one the store names; none left for deleted instances.
  const named = live.map((i) => i.serverId).filter((id): id is string => id !== null);
  expect(new Set(named).size, 'no two instances share a server').toBe(named.length);
  expect(servers.map((s) => s.id).sort(), 'provider servers = servers the store names').toEqual([...named].sort());
  for (const id of named) expect(byId.has(id)).toBe(true);
  const keys = servers.map((s) => s.idempotencyKey);
  expect(new Set(keys).size, 'no duplicate server for one create').toBe(keys.length);
  const artifacts = (env.provider.resources?.() ?? []).filter((r) => r.includes(':'));
  for (const artifact of artifacts) {
    expect(byId.has(artifact.slice(artifact.indexOf(':') + 1)), `artifact ${artifact} belongs to a live server`).toBe(
      true,
    );
  }

  // Certificates: a deleted instance keeps none unrevoked, and the broker refuses them.
  for (const instance of deleted) {
    const unrevoked = await env.store.listGuestCertificates({ guestId: instance.guestId, revoked: false });
    expect(
      unrevoked.map((c) => c.serial),
      `${instance.name}'s certificates revoked`,
    ).toEqual([]);
    for (const cert of await env.store.listGuestCertificates({ guestId: instance.guestId })) {
      expect(env.revocations.isRevoked(cert.serial), `broker refuses ${cert.serial}`).toBe(true);
    }
  }

  // Status: give a heartbeat interval for the last beat to land, then each running guest's status is the store's.
  await sleep(500);
  for (const guest of env.fleet?.guests.values() ?? []) {
    if (!guest.connected) continue;
    const instance = await env.store.findInstance(guest.instanceId);
    if (instance === undefined) continue;
    expect(instance.serviceStatus, `${instance.name}: the last heartbeat's status`).toBe(guest.status);
  }
  return { active, errored, deleted: deleted.length, servers: servers.length };
}
