/**
 * Enrolment against core's real endpoint: the agent makes its key in the guest, sends only a CSR with the
 * one-time token its bootstrap carries (granted by core exactly as the task manager does in `enrolment` mode),
 * gets its certificate from `startEnrolmentServer`, keeps both in its state dir and reuses them after a restart.
 * An agent whose reply was lost (key and CSR written before the POST) enrols again with that same key.
 * Refusals the agent meets (bad token, reused token, another instance's token) end it with exit code 3 and the
 * endpoint's code. Embedded aedes broker with mutual TLS, in-memory store; no datastore is started beyond
 * redis (scripts/setup/30-datastores.sh, as the other agent suites).
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createMemoryStore,
  type EnrolmentGrant,
  type EnrolmentServerHandle,
  EnrolmentService,
  EnrolmentTokens,
  encodeAgentUserData,
  grantEnrolment,
  type Store,
  startEnrolmentServer,
} from '@corral/core';
import { createKeyAndCsr, issueServerCertificate } from '@corral/core/pki';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  type ControlPlane,
  cleanupGuest,
  type GuestSetup,
  makeGuest,
  startAgent,
  startControlPlane,
} from './harness.js';

describe('agent enrolment against the control plane’s endpoint', () => {
  let plane: ControlPlane;
  let store: Store;
  let endpoint: EnrolmentServerHandle;
  let tokens: EnrolmentTokens;
  let service: EnrolmentService;
  const bodies: string[] = [];
  const guests: GuestSetup[] = [];
  const agents: AgentProcess[] = [];

  beforeAll(async () => {
    plane = await startControlPlane();
    store = createMemoryStore();
    tokens = EnrolmentTokens.fromCa(plane.ca);
    service = new EnrolmentService({ store, ca: plane.ca, tokens });
    // What reached the endpoint, to show the private key never travelled.
    const recording: EnrolmentService = Object.create(service);
    recording.enrol = (body: unknown) => {
      bodies.push(JSON.stringify(body));
      return service.enrol(body);
    };
    const tls = await issueServerCertificate(plane.ca, { commonName: 'corral-enrolment' });
    endpoint = await startEnrolmentServer({
      service: recording,
      tls: { certPem: tls.certPem, keyPem: tls.keyPem },
      logger: pino({ level: 'silent' }),
    });
  });

  afterAll(async () => {
    for (const agent of agents) await agent.kill();
    for (const guest of guests) await cleanupGuest(guest, []);
    await endpoint?.close();
    await store?.close();
    await plane?.close();
  });

  /** A guest whose instance exists in the store, and the token the task manager would put in its bootstrap. */
  async function grantedGuest(guestId: string): Promise<{ setup: GuestSetup; grant: EnrolmentGrant }> {
    const setup = await makeGuest(plane, { guestId, manager: 'redis' });
    guests.push(setup);
    await store.createInstance({
      id: setup.config.instanceId,
      guestId,
      name: guestId,
      projectId: 'agent-test',
      provider: 'none',
      flavor: 'small',
      image: 'none',
      datastore: { type: 'redis', version: '1' },
    });
    const grant = await grantEnrolment(
      { store, tokens, caPem: plane.ca.certPem, options: { guestUrl: endpoint.url }, buildMs: 60_000 },
      setup.config.instanceId,
    );
    return { setup, grant };
  }

  function useToken(setup: GuestSetup, token: string): void {
    const { certPem: _cert, keyPem: _key, ...broker } = setup.config.broker;
    const config = {
      ...setup.config,
      broker: { ...broker, enrolment: { url: endpoint.url, token, timeoutSeconds: 10 } },
    };
    writeFileSync(setup.configPath, encodeAgentUserData(config));
  }

  async function refusedWith(setup: GuestSetup, token: string): Promise<string> {
    useToken(setup, token);
    const agent = startAgent(['--config', setup.configPath]);
    agents.push(agent);
    const { code } = await agent.exited;
    expect(code).toBe(3);
    expect(agent.output()).not.toContain(token);
    return agent.output();
  }

  let firstToken = '';

  it('enrols with a CSR, connects, and reuses the stored certificate after a restart', async () => {
    const { setup, grant } = await grantedGuest('enrolled-guest');
    firstToken = grant.enrolment.token;
    useToken(setup, firstToken);
    const first = startAgent(['--config', setup.configPath]);
    agents.push(first);
    const beat = await plane
      .waitForHeartbeat(setup.guestId, (b) => b.first === true, 30_000)
      .catch((error: Error) => {
        throw new Error(`${error.message}\nagent output:\n${first.output()}`);
      });
    expect(beat.serviceStatus).toBe('INSTANCE_READY');
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toContain('BEGIN CERTIFICATE REQUEST');
    expect(bodies[0]).not.toContain('PRIVATE KEY');
    const keyPath = join(setup.config.stateDir as string, 'identity', 'key.pem');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(first.output()).not.toContain(firstToken);
    // Recorded like an issued certificate, under the serial the grant announced: delete's revokeAll finds it.
    expect(await store.listGuestCertificates({ guestId: setup.guestId, revoked: false })).toMatchObject([
      { serial: grant.serial.toLowerCase(), instanceId: setup.config.instanceId },
    ]);

    await first.kill('SIGTERM');
    const from = plane.heartbeats.length;
    const second = startAgent(['--config', setup.configPath]);
    agents.push(second);
    await plane.waitForHeartbeat(setup.guestId, (b) => b.first === true, 30_000, from);
    expect(bodies).toHaveLength(1); // the token was one-time; the stored certificate served
    expect(second.output()).toContain('"source":"stored"');
  });

  it('enrols with the key it wrote before a reply that was lost; another key with that token is refused', async () => {
    const { setup, grant } = await grantedGuest('lost-reply-guest');
    const token = grant.enrolment.token;
    useToken(setup, token);
    // What an agent killed mid-enrolment leaves: its key and CSR on disk (written before the POST), and a
    // request the endpoint answered (the serial is claimed) whose reply never arrived.
    const pending = await createKeyAndCsr({ commonName: setup.guestId });
    const dir = join(setup.config.stateDir as string, 'identity');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'key.pem'), pending.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'csr.pem'), pending.csrPem, { mode: 0o600 });
    const ids = { guestId: setup.guestId, instanceId: setup.config.instanceId, token };
    const lost = await service.enrol({ ...ids, csrPem: pending.csrPem });
    const agent = startAgent(['--config', setup.configPath]);
    agents.push(agent);
    await plane
      .waitForHeartbeat(setup.guestId, (b) => b.first === true, 30_000)
      .catch((error: Error) => {
        throw new Error(`${error.message}\nagent output:\n${agent.output()}`);
      });
    expect(agent.output()).toContain('"reusedKey":true');
    expect(readFileSync(join(dir, 'key.pem'), 'utf8')).toBe(pending.keyPem);
    const cert = new X509Certificate(readFileSync(join(dir, 'cert.pem'), 'utf8'));
    expect(cert.serialNumber.replace(/^0+/, '')).toBe(lost.serial);
    const thief = await createKeyAndCsr({ commonName: setup.guestId });
    await expect(service.enrol({ ...ids, csrPem: thief.csrPem })).rejects.toMatchObject({ code: 'TOKEN_USED' });
    expect(await store.listGuestCertificates({ guestId: setup.guestId })).toHaveLength(1);
  });

  it('exits 3 with the endpoint’s reason when the token is refused: forged, reused, or another instance’s', async () => {
    const forged = await grantedGuest('forged-guest');
    const tampered = `${forged.grant.enrolment.token.slice(0, -4)}AAAA`;
    expect(await refusedWith(forged.setup, tampered)).toContain('(HTTP 401): TOKEN_INVALID');

    // The first test's token, already used: a clone of that guest (same ids, empty state dir) is refused.
    const clone = await makeGuest(plane, { guestId: 'enrolled-guest', manager: 'redis' });
    guests.push(clone);
    expect(firstToken).not.toBe('');
    expect(await refusedWith(clone, firstToken)).toContain('(HTTP 409): TOKEN_USED');

    const other = await grantedGuest('other-guest');
    expect(await refusedWith(forged.setup, other.grant.enrolment.token)).toContain('(HTTP 403): TOKEN_MISMATCH');
    expect(await store.listGuestCertificates({ guestId: 'forged-guest' })).toHaveLength(0);
  });
});
