/**
 * A real `corral-agent` process (from source, with a real redis-server) SIGKILLed in the middle of prepare:
 *   - restarted with the same config (as systemd restarts it): its new boot comes back FAILED ("prepare was
 *     interrupted"), its journal refuses the cut-off request (REQUEST_INTERRUPTED), the create task sends
 *     prepare again to the new boot, and the instance ends ACTIVE with redis answering;
 *   - never restarted: the create ends BUILDING_ERROR_TIMEOUT_GA with a fault.
 * Then the invariant (test/faults/invariant.ts) and delete: no server, no unrevoked certificate left.
 * The control plane is the embedded one (aedes + SQLite) with core's FakeProvider; the "VM" is the agent
 * process on this host reading the user-data the task manager wrote. redis-server is started through a
 * wrapper that waits 1.5 s first (a slow guest disk), so the kill lands inside prepare every time.
 * Needs scripts/setup/30-datastores.sh (redis-server).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AgentConfigInput,
  decodeAgentUserData,
  type EmbeddedControlPlane,
  encodeAgentUserData,
  type InstanceView,
  startEmbeddedControlPlane,
} from '@corral/core';
import { FakeProvider } from '@corral/core/testing';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, freePort, killProcessesUnder, startAgent } from '../agent/harness.js';
import { checkInvariant, type InvariantEnv } from './invariant.js';

// Room for two agent starts from source (tsx) on a loaded 2-core box; the never-back case waits all of it.
const BUILD_MS = 75_000;

describe('real corral-agent killed mid-prepare', () => {
  let dir: string;
  let provider: FakeProvider;
  let embedded: EmbeddedControlPlane;
  const agents: AgentProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'corral-faults-agent-'));
    provider = new FakeProvider({ buildMs: 100 });
    embedded = await startEmbeddedControlPlane({
      stateDir: join(dir, 'control-plane'),
      providers: { fake: provider },
      guestHostAddress: '127.0.0.1',
      logger: pino({ level: 'silent' }),
      controlPlane: {
        heartbeat: { intervalSeconds: 1 },
        timeouts: { buildMs: BUILD_MS, providerPollMs: 200, guestCallMs: 2_000 },
      },
    });
    const wrapper = join(dir, 'slow-redis-server');
    writeFileSync(wrapper, '#!/bin/sh\nsleep 1.5\nexec redis-server "$@"\n');
    chmodSync(wrapper, 0o755);
  });
  afterAll(async () => {
    for (const agent of agents) await agent.kill('SIGKILL');
    await embedded?.close();
    if (dir) {
      await killProcessesUnder(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Creates an instance, waits for its server, writes the agent's config from the server's user-data. */
  async function createGuest(name: string): Promise<{ id: string; configPath: string; stateDir: string }> {
    const { instances } = embedded.controlPlane;
    const created = await instances.create({ name, flavor: 'small', datastore: { type: 'redis' } });
    const withServer = await instances.waitFor(created.id, (v) => v.serverId !== null, { timeoutMs: 15_000 });
    const config = decodeAgentUserData(provider.bootstrapOf(withServer.serverId as string)) as AgentConfigInput;
    const stateDir = join(dir, name, 'state');
    const guest: AgentConfigInput = {
      ...config,
      stateDir,
      logLevel: 'info',
      datastore: {
        ...config.datastore,
        bindAddress: '127.0.0.1',
        port: await freePort(),
        options: { binary: join(dir, 'slow-redis-server') },
      },
    };
    const configPath = join(dir, `${name}.user-data`);
    writeFileSync(configPath, encodeAgentUserData(guest), { mode: 0o600 });
    return { id: created.id, configPath, stateDir };
  }

  function phase(stateDir: string): string | undefined {
    const path = join(stateDir, 'redis', 'lifecycle.json');
    if (!existsSync(path)) return undefined;
    try {
      return (JSON.parse(readFileSync(path, 'utf8')) as { phase?: string }).phase;
    } catch {
      return undefined; // mid-rename
    }
  }

  /** Starts the agent and SIGKILLs it once its manager is inside prepare (phase `building` on disk). */
  async function killDuringPrepare(guest: { configPath: string; stateDir: string }): Promise<void> {
    const agent = startAgent(['--config', guest.configPath]);
    agents.push(agent);
    const deadline = Date.now() + 60_000;
    while (phase(guest.stateDir) !== 'building') {
      if (Date.now() > deadline) throw new Error(`prepare never started: ${agent.output().slice(-2000)}`);
      await sleep(5);
    }
    await agent.kill('SIGKILL');
    expect(phase(guest.stateDir), 'the kill landed inside prepare').toBe('building');
  }

  const settled = (id: string): Promise<InstanceView> =>
    embedded.controlPlane.instances.waitFor(
      id,
      (v) => v.taskStatus === 'NONE' || v.taskStatus.includes('ERROR') || v.status === 'ERROR',
      { timeoutMs: BUILD_MS + 20_000 },
    );

  it('restarted: prepared again on its new boot, ACTIVE; never back: a timeout with a fault', {
    timeout: 180_000,
  }, async () => {
    const restarted = await createGuest('real-restarted');
    const gone = await createGuest('real-gone');
    await Promise.all([killDuringPrepare(restarted), killDuringPrepare(gone)]);

    const second = startAgent(['--config', restarted.configPath]);
    agents.push(second);
    const [back, lost] = await Promise.all([settled(restarted.id), settled(gone.id)]);
    console.log(
      `[faults] real agent killed mid-prepare: restarted → ${back.status} (${back.taskStatus}); never back → ${lost.taskStatus}: ${lost.fault?.message}`,
    );
    expect(back.status, `${back.taskStatus} ${back.fault?.message ?? ''}\n${second.output().slice(-3000)}`).toBe(
      'ACTIVE',
    );
    expect(back.serviceStatus).toBe('HEALTHY');
    expect(phase(restarted.stateDir)).toBe('prepared');
    // The cut-off request itself was refused by the journal, never re-run; the new boot's prepare ran once.
    const journal = readFileSync(join(restarted.stateDir, 'journal.jsonl'), 'utf8');
    const prepares = journal
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { id: string; method: string; state: string })
      .filter((entry) => entry.method === 'prepare' && entry.state === 'done');
    expect(prepares.map((entry) => entry.id)).toEqual([expect.stringMatching(/:prepare:/)]);

    expect(lost.taskStatus).toBe('BUILDING_ERROR_TIMEOUT_GA');
    expect(lost.fault?.message).toMatch(/prepare/);

    const env: InvariantEnv = { store: embedded.store, provider, revocations: embedded.revocations };
    expect(await checkInvariant(env)).toMatchObject({ active: 1, errored: 1, servers: 2 });

    const { instances } = embedded.controlPlane;
    await Promise.all([restarted.id, gone.id].map((id) => instances.delete(id)));
    for (const id of [restarted.id, gone.id]) {
      await instances.waitFor(id, (v) => v.status === 'DELETED', { timeoutMs: 15_000 });
    }
    const report = await checkInvariant(env);
    console.log(`[faults] real agent crash: ${JSON.stringify(report)}`);
    expect(report).toMatchObject({ active: 0, errored: 0, deleted: 2, servers: 0 });
    expect(provider.resources()).toEqual([]);
  });
});
