/**
 * Your own datastore, on both sides: a catalog entry on the control plane (which manager prepares it, which
 * image each provider boots, its port and capabilities) and a manager in the guest agent's registry
 * (`registerDatastore(name, factory)`). The datastore here is a toy `kv` store kept in a JSON file; a real one
 * (memcached, say) starts its server in `doPrepare`/`startDatastore` and pings it in `checkHealth`.
 *
 *   npx tsx examples/custom-datastore.ts
 *
 * Runs on the host, no VM: the embedded control plane (aedes with mutual TLS, SQLite) with core's
 * FakeProvider, which keeps each server's bootstrap (the cloud-init user-data the task manager wrote: guest
 * id, broker URL, this guest's certificate and key, the datastore's manager). The REAL agent runs in this
 * process with that bootstrap, exactly as it would in a VM, and the instance goes BUILD → ACTIVE with the
 * custom manager. In a guest image you would ship the manager as a module and name it in the config's
 * `managers: {kv: '/opt/kv-manager.mjs'}` (or call registerDatastore in your own agent entry).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, BaseManager, createLogger, type Health, type PrepareRequest, registerDatastore } from '@corral/agent';
import {
  AgentConfigSchema,
  DatastoreCatalog,
  decodeAgentUserData,
  defaultDatastores,
  startEmbeddedControlPlane,
} from '@corral/core';
import { FakeProvider } from '@corral/core/testing';
import pino from 'pino';

// --- Guest side: the manager, registered under the name the catalog gives. -------------------------------

/** A key-value store in `<dir>/data.json`; "running" is a marker file, as a pid file would be. */
class KvManager extends BaseManager {
  readonly name = 'kv';
  readonly #data = join(this.context.dir, 'data.json');
  readonly #running = join(this.context.dir, 'running');

  protected async doPrepare(request: PrepareRequest): Promise<void> {
    await writeFile(this.#data, JSON.stringify({ created: new Date().toISOString(), ...request.overrides }));
    await this.startDatastore();
  }
  protected async startDatastore(): Promise<void> {
    await writeFile(this.#running, String(process.pid));
  }
  protected async stopDatastore(): Promise<void> {
    await rm(this.#running, { force: true });
  }
  protected async checkHealth(): Promise<Health> {
    const up = await readFile(this.#running).then(
      () => true,
      () => false,
    );
    if (!up) return 'down';
    return readFile(this.#data, 'utf8').then(
      () => 'healthy',
      () => 'starting',
    );
  }
}

registerDatastore('kv', (context) => new KvManager(context));

// --- Control-plane side: the catalog with the defaults plus `kv`. ----------------------------------------

const catalog = new DatastoreCatalog([
  ...defaultDatastores(),
  {
    name: 'kv',
    defaultVersion: '1',
    versions: [
      {
        name: '1',
        manager: 'kv', // the agent registry's key
        images: { fake: 'corral-guest', libvirt: 'corral-guest' },
        capabilities: {
          databases: false,
          users: false,
          root: false,
          backups: false,
          volumes: false,
          liveOverrides: false,
        },
        port: 7000,
      },
    ],
  },
]);

async function main(): Promise<void> {
  const started = Date.now();
  const say = (text: string) => process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${text}\n`);
  const dir = await mkdtemp(join(tmpdir(), 'corral-custom-datastore-'));
  const logger = pino({ level: process.env.CORRAL_LOG_LEVEL ?? 'warn' });
  const provider = new FakeProvider({ buildMs: 200 });
  const embedded = await startEmbeddedControlPlane({
    stateDir: join(dir, 'control-plane'),
    providers: { fake: provider },
    datastores: catalog,
    // The agent runs on this host, so it reaches the broker on the loopback itself.
    guestHostAddress: '127.0.0.1',
    logger,
    controlPlane: { heartbeat: { intervalSeconds: 1 } },
  });
  let agent: Agent | undefined;
  try {
    const { instances } = embedded.controlPlane;
    say(
      `catalog: ${catalog
        .list()
        .map((d) => d.name)
        .join(', ')}`,
    );
    const created = await instances.create({ name: 'my-kv', flavor: 'small', datastore: { type: 'kv' } });
    say(`created ${created.id}: ${created.status}`);

    // "Boot" the server: the agent reads the bootstrap the task manager gave the provider.
    const withServer = await instances.waitFor(created.id, (view) => view.serverId !== null, { timeoutMs: 10_000 });
    const bootstrap = provider.bootstrapOf(withServer.serverId as string);
    const config = AgentConfigSchema.parse({
      ...(decodeAgentUserData(bootstrap) as object),
      stateDir: join(dir, 'guest'),
      logLevel: 'warn',
    });
    say(`guest ${config.guestId} boots the real agent with manager "${config.datastore.manager}"`);
    agent = new Agent({ config, logger: createLogger(config.logLevel, { guestId: config.guestId }) });
    await agent.start();

    const active = await instances.waitFor(created.id, (view) => view.status === 'ACTIVE' || view.status === 'ERROR', {
      timeoutMs: 30_000,
    });
    if (active.status !== 'ACTIVE') throw new Error(`ended ${active.status}: ${active.fault?.message ?? '-'}`);
    say(`ACTIVE: datastore ${active.datastore.type} ${active.datastore.version}, service ${active.serviceStatus}`);
    say(`kv data file: ${await readFile(join(config.stateDir, 'kv', 'data.json'), 'utf8')}`);

    await instances.delete(created.id);
    await instances.waitFor(created.id, (view) => view.status === 'DELETED', { timeoutMs: 10_000 });
    say('deleted');
  } finally {
    await agent?.stop();
    await embedded.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`custom-datastore failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
