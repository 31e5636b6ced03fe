/**
 * Enrolment: the agent makes its key in the guest, sends only a CSR with a one-time token to an HTTPS endpoint,
 * gets its certificate, keeps both in its state dir and reuses them after a restart. The control-plane side here
 * is a small test endpoint built on core's `signGuestCsr` (the protocol the agent speaks: POST JSON
 * {guestId, instanceId, token, csrPem} → {certPem}). Embedded aedes broker with mutual TLS; no datastore.
 */
import { statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encodeAgentUserData, issueServerCertificate, signGuestCsr } from '@corral/core';
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

const TOKEN = 'one-time-token-0123456789abcdef';

describe('agent enrolment', () => {
  let plane: ControlPlane;
  let server: Server;
  let url: string;
  const bodies: string[] = [];
  const tokensUsed = new Set<string>();
  const guests: GuestSetup[] = [];
  const agents: AgentProcess[] = [];

  beforeAll(async () => {
    plane = await startControlPlane();
    const tls = await issueServerCertificate(plane.ca);
    server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', async () => {
        bodies.push(body);
        const { guestId, token, csrPem } = JSON.parse(body) as { guestId: string; token: string; csrPem: string };
        if (token !== TOKEN || tokensUsed.has(token)) {
          res.writeHead(403, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'TOKEN_REFUSED', message: 'unknown or already used token' } }));
          return;
        }
        tokensUsed.add(token);
        const issued = await signGuestCsr(plane.ca, csrPem, { guestId });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ certPem: issued.certPem }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/enrol`;
  });

  afterAll(async () => {
    for (const agent of agents) await agent.kill();
    for (const guest of guests) await cleanupGuest(guest, []);
    server?.close();
    await plane?.close();
  });

  async function enrollingGuest(guestId: string, token: string): Promise<GuestSetup> {
    const setup = await makeGuest(plane, { guestId, manager: 'redis' });
    guests.push(setup);
    const { certPem: _cert, keyPem: _key, ...broker } = setup.config.broker;
    const config = { ...setup.config, broker: { ...broker, enrolment: { url, token, timeoutSeconds: 10 } } };
    writeFileSync(setup.configPath, encodeAgentUserData(config));
    return setup;
  }

  it('enrols with a CSR, connects, and reuses the stored certificate after a restart', async () => {
    const setup = await enrollingGuest('enrolled-guest', TOKEN);
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
    expect(first.output()).not.toContain(TOKEN);

    await first.kill('SIGTERM');
    const from = plane.heartbeats.length;
    const second = startAgent(['--config', setup.configPath]);
    agents.push(second);
    await plane.waitForHeartbeat(setup.guestId, (b) => b.first === true, 30_000, from);
    expect(bodies).toHaveLength(1); // the token was one-time; the stored certificate served
    expect(second.output()).toContain('"source":"stored"');
  });

  it('exits 3 with the endpoint’s reason when the token is refused', async () => {
    const setup = await enrollingGuest('refused-guest', 'not-the-right-token-000');
    const agent = startAgent(['--config', setup.configPath]);
    agents.push(agent);
    const { code } = await agent.exited;
    expect(code).toBe(3);
    expect(agent.output()).toContain('(HTTP 403): TOKEN_REFUSED: unknown or already used token');
    expect(agent.output()).not.toContain('not-the-right-token-000');
  });
});
