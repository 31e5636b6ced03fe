/**
 * The agent's failure modes, each a clear message and a non-zero exit or a FAILED status, never a hang:
 * a bad configuration, an unknown manager, an unreachable broker. Embedded aedes broker with mutual TLS; no
 * datastore is started (scripts/setup/30-datastores.sh is not needed here).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeAgentUserData } from '@corral/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  type ControlPlane,
  cleanupGuest,
  freePort,
  type GuestSetup,
  makeGuest,
  prepareArgs,
  startAgent,
  startControlPlane,
} from './harness.js';

describe('agent failure modes', () => {
  let plane: ControlPlane;
  const guests: GuestSetup[] = [];
  const agents: AgentProcess[] = [];

  beforeAll(async () => {
    plane = await startControlPlane();
  });

  afterAll(async () => {
    for (const agent of agents) await agent.kill();
    for (const guest of guests) await cleanupGuest(guest, []);
    await plane?.close();
  });

  async function guest(options: Parameters<typeof makeGuest>[1]): Promise<GuestSetup> {
    const made = await makeGuest(plane, options);
    guests.push(made);
    return made;
  }

  it('exits 2 on a bad configuration, naming the field and the rule, without echoing secrets', async () => {
    const setup = await guest({ guestId: 'bad-config', manager: 'redis' });
    const broken = {
      ...setup.config,
      broker: { ...setup.config.broker, url: 'http://somewhere', keyPem: 'my-secret-key-material' },
      heartbeatIntervalSeconds: -1,
    };
    const path = join(setup.stateDir, 'broken-user-data');
    writeFileSync(path, encodeAgentUserData(broken));
    const agent = startAgent(['--config', path]);
    agents.push(agent);
    const { code } = await agent.exited;
    expect(code).toBe(2);
    expect(agent.output()).toContain('broker.url: must be a broker URL such as mqtts://10.0.2.2:8883');
    expect(agent.output()).toContain('broker.keyPem: must be a PEM private key');
    expect(agent.output()).toContain('heartbeatIntervalSeconds:');
    expect(agent.output()).not.toContain('my-secret-key-material');
  });

  it('exits 2 on bad environment variables and on a missing file', async () => {
    const env = startAgent([], { CORRAL_GUEST_ID: 'g1', CORRAL_HEARTBEAT_INTERVAL_SECONDS: 'often' });
    agents.push(env);
    expect((await env.exited).code).toBe(2);
    expect(env.output()).toMatch(
      /invalid agent configuration \(environment\): .*heartbeatIntervalSeconds: Invalid input: expected number/,
    );

    const missing = startAgent(['--config', '/nonexistent/user-data']);
    agents.push(missing);
    expect((await missing.exited).code).toBe(2);
    expect(missing.output()).toContain('--config: cannot read /nonexistent/user-data (ENOENT)');
  });

  it('reports an unknown manager as FAILED on its heartbeats and refuses prepare with UNKNOWN_MANAGER', async () => {
    const setup = await guest({ guestId: 'unknown-manager', manager: 'mongodb' });
    const agent = startAgent(['--config', setup.configPath]);
    agents.push(agent);
    const beat = await plane.waitForHeartbeat(setup.guestId, (b) => b.first === true, 30_000);
    expect(beat.serviceStatus).toBe('FAILED');
    expect(beat.detail).toBe('datastore.manager: unknown manager "mongodb" (known: postgresql, redis)');
    await expect(
      plane.call(setup.guestId, 'prepare', prepareArgs('mongodb', { requestId: 'p1' })),
    ).rejects.toMatchObject({
      remoteCode: 'UNKNOWN_MANAGER',
    });
    // A prepare for another datastore than the agent's is refused by name.
    await expect(plane.call(setup.guestId, 'prepare', prepareArgs('redis', { requestId: 'p2' }))).rejects.toThrow(
      /prepare asks for "redis" but this agent runs "mongodb"/,
    );
    expect(await plane.call(setup.guestId, 'rpc_ping', {})).toBe(true);
  });

  it('exits 3 when the broker is unreachable, after its connect timeout', async () => {
    const port = await freePort(); // nothing listens there
    const setup = await guest({
      guestId: 'no-broker',
      manager: 'redis',
      brokerUrl: `mqtts://127.0.0.1:${port}`,
      connectTimeoutSeconds: 2,
    });
    const started = Date.now();
    const agent = startAgent(['--config', setup.configPath]);
    agents.push(agent);
    const { code } = await agent.exited;
    expect(code).toBe(3);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(agent.output()).toContain(`broker mqtts://127.0.0.1:${port} unreachable for 2 s`);
  });
});
