/**
 * Revocation when an instance is deleted: the guest is cut off at once, whatever its agent does.
 *   - on both brokers, a live connection holding the guest's certificate is dropped and the certificate
 *     cannot connect again (on mosquitto: CRL rewritten, SIGHUP, session taken over); the suite prints the
 *     time from the delete to each;
 *   - mosquitto's CRL is re-issued at half its validity while the control plane runs (an injected clock moves
 *     four days on; the CRL file then reaches beyond the first one's expiry, and mosquitto reloaded it);
 *   - a guest that receives `stop_db` and never answers does not hold back its revocation (the stop is a cast,
 *     and revocation follows it; before, the delete waited `guestCallMs` for the answer first).
 * Needs scripts/setup/20-mosquitto.sh for the mosquitto case.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentConfigSchema, createCa, decodeAgentUserData, startMosquitto } from '@corral/core';
import { crlNextUpdate, issueServerCertificate, RevocationList } from '@corral/core/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, idle, startEnv, type TestEnv, until } from '../control-plane/harness.js';
import { type BrokerKind, brokerKinds, eventually, rawClient, type TestBroker } from '../messaging/harness.js';

describe.each(brokerKinds)('deleting an instance cuts its guest off on %s', (kind: BrokerKind) => {
  let env: TestEnv;
  let dir: string | undefined;

  beforeAll(async () => {
    dir = kind === 'mosquitto' ? await mkdtemp(join(tmpdir(), 'corral-revocation-')) : undefined;
    env = await startEnv(dir ? { mosquitto: { dir, services: ['control0'] } } : {});
  });
  afterAll(async () => {
    await env?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('drops the live connection and refuses the certificate afterwards', async () => {
    const plane = await env.startPlane();
    const view = await create(plane, 'db-revoked');
    const ready = await until(plane, view.id, idle);
    const serverId = ready.serverId as string;
    const config = AgentConfigSchema.parse(decodeAgentUserData(env.provider.bootstrapOf(serverId)));
    // The fake agent steps aside; a client of our own holds the guest's certificate and session instead.
    await env.fleet.kill(serverId);
    const broker = { kind, url: env.broker.url, protocolVersion: env.broker.protocolVersion } as TestBroker;
    const tls = { ca: config.broker.caPem, cert: config.broker.certPem, key: config.broker.keyPem };
    const live = await rawClient(broker, { clientId: view.id, ...tls });
    let droppedAt: number | undefined;
    live.once('close', () => {
      droppedAt = Date.now();
    });

    const deletedAt = Date.now();
    await plane.instances.delete(view.id);
    await eventually(() => droppedAt !== undefined, 20_000, 'the live connection dropped');
    await expect(rawClient(broker, { clientId: view.id, ...tls })).rejects.toThrow();
    const refusedAt = Date.now();
    console.log(
      `[security] revocation on ${kind}: live connection dropped ${(droppedAt ?? 0) - deletedAt} ms after delete(), ` +
        `reconnect refused by ${refusedAt - deletedAt} ms`,
    );
    live.end(true);
    await until(plane, view.id, (v) => v.deletedAt !== null);
  });
});

describe('revocation on delete', () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('a guest that never answers stop_db is revoked without waiting for it', async () => {
    // A call timeout far beyond the test's: revocation must not wait for the stop's answer at all.
    const plane = await env.startPlane({
      timeouts: { buildMs: 6_000, recoverMs: 3_000, deleteMs: 3_000, guestCallMs: 600_000, providerPollMs: 50 },
    });
    const view = await create(plane, 'db-stop-hangs');
    await until(plane, view.id, idle);
    const [certificate] = await env.store.listGuestCertificates({ guestId: view.id });
    expect(certificate?.revoked).toBe(false);
    await plane.instances.delete(view.id);
    await eventually(() => env.revocations.isRevoked(certificate?.serial ?? ''), 20_000, 'the guest revoked');
    const gone = await until(plane, view.id, (v) => v.deletedAt !== null, 20_000);
    expect(gone.status).toBe('DELETED');
  });
});

describe('mosquitto CRL refresh', () => {
  it('re-issues the CRL at half its validity (injected clock) and reloads mosquitto', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'corral-crl-refresh-'));
    const ca = await createCa({ commonName: 'corral CRL refresh CA' });
    const server = await issueServerCertificate(ca);
    let now = Date.now();
    const mosquitto = await startMosquitto({
      dir,
      ca: ca.certPem,
      cert: server.certPem,
      key: server.keyPem,
      services: ['control'],
      revocations: { list: new RevocationList(), ca, now: () => now, refreshCheckMs: 50 },
    });
    try {
      const crlFile = join(dir, 'crl.pem');
      const nextUpdate = async () => {
        try {
          return crlNextUpdate(await readFile(crlFile, 'utf8'))?.getTime() ?? 0;
        } catch {
          return 0; // between the write and the rename
        }
      };
      const first = await nextUpdate();
      expect(first).toBeGreaterThan(now);
      now += 4 * 24 * 3600 * 1000;
      const deadline = Date.now() + 10_000;
      while ((await nextUpdate()) <= first || !(await mosquitto.log()).includes('Reloading config')) {
        if (Date.now() > deadline) throw new Error('the CRL was not re-issued and reloaded');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await nextUpdate()).toBeGreaterThan(first + 3 * 24 * 3600 * 1000);
    } finally {
      await mosquitto.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
