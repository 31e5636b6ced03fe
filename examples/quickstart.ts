/**
 * The main job: boot a real VM on libvirt with Redis inside, through the whole control plane, on the
 * embedded defaults (aedes with mutual TLS, SQLite, all roles in this process), and show BUILD → ACTIVE.
 *
 *   bash scripts/quickstart.sh [--keep] [--name NAME] [--state-dir DIR] [--timeout-minutes N]
 *
 * It creates a redis instance, follows its statuses as they change (events, no polling), and once ACTIVE
 * creates a Redis user through the guest agent and lists the users back from the real redis-server in the
 * guest. Then it deletes the instance (or keeps it with --keep) and checks nothing was left behind.
 * Prerequisites (scripts/quickstart.sh does all of this): libvirtd running, `npm run build`, and the micro
 * guest image in .cache/guest-image (scripts/guest-image/build.sh).
 */
import { access } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type EmbeddedControlPlane, GuestApi, type InstanceView, startEmbeddedControlPlane } from '@corral/core';
import { corralGuestImage, createLibvirtProvider } from '@corral/provider-libvirt';
import pino from 'pino';

const { values: args } = parseArgs({
  options: {
    keep: { type: 'boolean', default: false },
    name: { type: 'string', default: 'quickstart-redis' },
    'state-dir': { type: 'string', default: '/var/lib/corral/quickstart' },
    'image-dir': { type: 'string', default: resolve(import.meta.dirname, '..', '.cache', 'guest-image') },
    'timeout-minutes': { type: 'string', default: '10' },
  },
});

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;
const say = (text: string) => process.stdout.write(`[${elapsed()}] ${text}\n`);

async function requireFile(path: string, hint: string): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new Error(`${path} is missing: ${hint}`);
  }
}

function describe(view: InstanceView): string {
  const fault = view.fault ? ` fault: ${view.fault.message}` : '';
  return `${view.status.padEnd(7)} task=${view.taskStatus} server=${view.serverStatus ?? '-'} service=${view.serviceStatus}${fault}`;
}

async function main(): Promise<void> {
  const imageDir = args['image-dir'];
  const image = corralGuestImage(imageDir);
  await requireFile(image.kernel, 'build the guest image with `bash scripts/guest-image/build.sh`');
  await requireFile(image.initrd, 'build the guest image with `bash scripts/guest-image/build.sh`');

  const logger = pino({ level: process.env.CORRAL_LOG_LEVEL ?? 'warn' });
  const provider = createLibvirtProvider({
    images: [image],
    // The micro image's init finds its seed on a SATA cdrom (q35's AHCI) fastest.
    cdromBus: 'sata',
    logger: logger.child({ component: 'provider-libvirt' }),
  });
  say('starting the embedded control plane (CA, aedes with mutual TLS, SQLite)');
  const embedded: EmbeddedControlPlane = await startEmbeddedControlPlane({
    stateDir: args['state-dir'],
    providers: { libvirt: provider },
    logger,
    controlPlane: {
      heartbeat: { intervalSeconds: 5 },
      timeouts: { buildMs: Number(args['timeout-minutes']) * 60_000 },
    },
  });
  const { instances } = embedded.controlPlane;
  say(`broker at ${embedded.broker.url}; guests reach it as ${embedded.guestBrokerUrl}`);

  const watching = new AbortController();
  let createdId: string | undefined;
  try {
    const created = await instances.create({
      name: args.name,
      provider: 'libvirt',
      flavor: 'corral.small',
      datastore: { type: 'redis', version: '7' },
    });
    createdId = created.id;
    say(`create accepted: instance ${created.id} is ${created.status} (returned at once; the task manager works on)`);

    // Every status change, as the store and the conductor report it.
    void (async () => {
      let last = '';
      for await (const event of embedded.controlPlane.events.stream({
        instanceId: created.id,
        signal: watching.signal,
      })) {
        void event;
        const view = await instances.get(created.id, { includeDeleted: true }).catch(() => undefined);
        if (!view) continue;
        const line = describe(view);
        if (line !== last) say(line);
        last = line;
      }
    })().catch(() => undefined);

    const timeoutMs = Number(args['timeout-minutes']) * 60_000;
    const ready = await instances.waitFor(created.id, (view) => view.status === 'ACTIVE' || view.status === 'ERROR', {
      timeoutMs,
    });
    if (ready.status !== 'ACTIVE')
      throw new Error(`instance ended ${ready.status}: ${ready.fault?.message ?? 'no fault'}`);
    const toActive = (Date.now() - started) / 1000;
    say(`ACTIVE: Redis runs in the guest (server ${ready.serverId})`);

    // A real datastore command, through the guest agent, against the redis-server inside the VM.
    const guest = new GuestApi(embedded.controlPlane.transport);
    await guest.cast(
      created.id,
      'create_user',
      { users: [{ name: 'quickstart', password: 'quickstart-Secret-1' }] },
      `qs-user-${created.id}`,
    );
    let users: string[] = [];
    for (let attempt = 0; attempt < 20 && !users.includes('quickstart'); attempt++) {
      const listed = (await guest.call(
        created.id,
        'list_users',
        {},
        { timeoutMs: 10_000, requestId: `qs-list-${attempt}-${created.id}` },
      )) as {
        users: { name: string }[];
      };
      users = listed.users.map((user) => user.name);
      if (!users.includes('quickstart')) await new Promise((done) => setTimeout(done, 500));
    }
    if (!users.includes('quickstart'))
      throw new Error(`the user made through the agent is not listed: ${users.join(', ')}`);
    say(`datastore command: created user "quickstart"; redis in the guest lists users: ${users.join(', ')}`);
    say(`time to ACTIVE: ${toActive.toFixed(1)} s (software emulation; no KVM here)`);
    process.stdout.write(`${JSON.stringify({ instance: ready, timeToActiveSeconds: toActive, users }, null, 2)}\n`);

    if (args.keep) {
      say(`kept: instance ${created.id}; state in ${args['state-dir']}`);
      return;
    }
    say('deleting the instance');
    await instances.delete(created.id);
    await instances.waitFor(created.id, (view) => view.status === 'DELETED' || view.status === 'ERROR', { timeoutMs });
    const leftovers = (await provider.listServers()).filter((server) => server.id === ready.serverId);
    if (leftovers.length > 0) throw new Error(`the server is still there after delete: ${ready.serverId}`);
    say('deleted: no domain and no volume left');
  } catch (error) {
    // Nothing left half-made: a failed run removes what it created (unless asked to keep it for a look).
    if (createdId !== undefined && !args.keep) {
      say(`cleaning up instance ${createdId} after the failure`);
      await instances
        .delete(createdId, { force: true })
        .then(() => instances.waitFor(createdId!, (view) => view.status === 'DELETED', { timeoutMs: 120_000 }))
        .catch((cleanupError: unknown) => say(`cleanup failed: ${String(cleanupError)}`));
    }
    throw error;
  } finally {
    watching.abort();
    await embedded.close();
    await provider.close?.();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`quickstart failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
