/**
 * The quickstart against OpenStack: the embedded control plane (aedes with mutual TLS, SQLite) with the
 * OpenStack provider, on a cloud named in clouds.yaml (`--cloud`, default OS_CLOUD) or by OS_* variables.
 *
 *   npx tsx examples/openstack.ts --cloud mycloud --flavor m1.small --image corral-guest --network corral-net \
 *     --guest-host 192.0.2.10              # full run: BUILD → ACTIVE, a redis command through the agent, delete
 *   npx tsx examples/openstack.ts --cloud corral-demo --admin-cloud corral-admin --image corral-test-image \
 *     --until server-active                # the repo's test cloud (test/openstack-cloud/setup.sh)
 *
 * A full run needs a guest image with the corral agent and guests that can reach the broker at
 * `--guest-host` (the address of this host as guests see it; the broker listens on 127.0.0.1 here, so in a
 * real cloud put a TCP forwarder or the broker's address there). `--until server-active` stops earlier:
 * the control plane creates the server, the example waits for Nova's ACTIVE, reads the server's user_data
 * back as admin (microversion >= 2.3) to show the bootstrap was delivered (it prints the guest id and which
 * fields it holds, never the key), then deletes the instance and checks the server is gone.
 *
 * The example gives up after `--timeout-minutes` (the control plane's build deadline is set a minute later,
 * so the example is the one that gives up), and whenever it gives up or fails after the create it deletes
 * the instance it made (`--keep` keeps it only after a success).
 */

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  AgentConfigSchema,
  createDefaultCatalog,
  decodeAgentUserData,
  GuestApi,
  type InstanceView,
  startEmbeddedControlPlane,
} from '@corral/core';
import { createOpenStackProvider } from '@corral/provider-openstack';
import pino from 'pino';

const { values: args } = parseArgs({
  options: {
    cloud: { type: 'string', default: process.env.OS_CLOUD },
    'admin-cloud': { type: 'string' },
    flavor: { type: 'string', default: 'm1.small' },
    image: { type: 'string', default: 'corral-guest' },
    network: { type: 'string' },
    'guest-host': { type: 'string', default: '10.0.2.2' },
    until: { type: 'string', default: 'active' },
    'state-dir': { type: 'string', default: join(tmpdir(), 'corral-openstack') },
    'timeout-minutes': { type: 'string', default: '15' },
    keep: { type: 'boolean', default: false },
  },
});

/** The control plane's build deadline is this much later than the example's own wait: the example gives up first. */
const BUILD_DEADLINE_MARGIN_MS = 60_000;
const started = Date.now();
const say = (text: string) =>
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${text}\n`);
const describe = (v: InstanceView) =>
  `${v.status.padEnd(7)} task=${v.taskStatus} service=${v.serviceStatus}${v.fault ? ` fault: ${v.fault.message}` : ''}`;

async function main(): Promise<void> {
  if (args.until !== 'active' && args.until !== 'server-active')
    throw new Error(`--until: must be "active" or "server-active", got ${JSON.stringify(args.until)}`);
  const timeoutMs = Number(args['timeout-minutes']) * 60_000;
  if (!(timeoutMs > 0)) throw new Error('--timeout-minutes: must be a positive number');
  const logger = pino({ level: process.env.CORRAL_LOG_LEVEL ?? 'warn' });
  // No --cloud and no OS_CLOUD: the OS_* variables (OS_AUTH_URL, OS_USERNAME, ...) name the cloud.
  const provider = createOpenStackProvider({ cloud: args.cloud, defaultNetwork: args.network, logger });
  await provider.connect();
  say(`connected to ${args.cloud ?? 'the cloud in OS_* variables'}`);

  const embedded = await startEmbeddedControlPlane({
    stateDir: args['state-dir'],
    providers: { openstack: provider },
    datastores: createDefaultCatalog({ images: { openstack: args.image } }),
    guestHostAddress: args['guest-host'],
    logger,
    controlPlane: {
      heartbeat: { intervalSeconds: 5 },
      // Delete's best-effort stop_db call waits this long for a guest that may never have started (3 s when
      // no guest is expected: server-active).
      timeouts: {
        buildMs: timeoutMs + BUILD_DEADLINE_MARGIN_MS,
        guestCallMs: args.until === 'server-active' ? 3_000 : 5_000,
      },
    },
  });
  const { instances } = embedded.controlPlane;
  const watching = new AbortController();
  let made: string | undefined;
  try {
    const created = await instances.create({
      name: 'openstack-redis',
      flavor: args.flavor,
      datastore: { type: 'redis' },
    });
    made = created.id;
    say(`create accepted: ${created.id} is ${created.status}`);
    void (async () => {
      for await (const change of instances.watch({ instanceId: created.id, signal: watching.signal }))
        say(describe(change.view));
    })().catch(() => undefined);

    if (args.until === 'server-active') {
      // The control plane records the server id; Nova's own status is the provider's to report.
      const view = await instances.waitFor(created.id, (v) => v.serverId !== null || v.status === 'ERROR', {
        timeoutMs,
      });
      if (view.serverId === null) throw new Error(`no server was made: ${view.fault?.message ?? view.status}`);
      const server = await provider.waitForServer(view.serverId, { timeoutMs });
      say(`server ${server.id} is ${server.status} in Nova (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      const admin = args['admin-cloud'] ? createOpenStackProvider({ cloud: args['admin-cloud'], logger }) : provider;
      const userData = await admin.getServerUserData(server.id);
      if (userData === undefined) throw new Error('no user_data on the server (is --admin-cloud an admin?)');
      const bootstrap = AgentConfigSchema.parse(decodeAgentUserData(userData));
      if (bootstrap.instanceId !== created.id) throw new Error('the user_data belongs to another instance');
      say(
        `bootstrap delivered: guest ${bootstrap.guestId}, broker ${bootstrap.broker.url}, manager ${bootstrap.datastore.manager}, ` +
          `certificate ${bootstrap.broker.certPem ? 'and key present' : 'absent (enrolment)'} (${userData.length} bytes)`,
      );
    } else {
      const ready = await instances
        .waitFor(created.id, (v) => v.status === 'ACTIVE' || v.status === 'ERROR', { timeoutMs })
        .catch((error: unknown) => {
          throw new Error(`gave up after ${args['timeout-minutes']} min: ${(error as Error).message}`);
        });
      if (ready.status !== 'ACTIVE') throw new Error(`instance ended ${ready.status}: ${ready.fault?.message ?? '-'}`);
      say(`ACTIVE in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      const guest = new GuestApi(embedded.controlPlane.transport);
      const users = await guest.call(
        created.id,
        'list_users',
        {},
        { timeoutMs: 10_000, requestId: `os-list-${created.id}` },
      );
      say(`datastore command (list_users): ${JSON.stringify(users)}`);
    }

    if (args.keep) {
      say(`kept ${created.id}; state in ${args['state-dir']}`);
      made = undefined;
      return;
    }
    made = undefined;
    await deleteAndCheck(created.id);
  } catch (error) {
    // Giving up (or failing) after the create: delete what was made, then report the first failure.
    if (made !== undefined) {
      say(`cleaning up ${made} after: ${error instanceof Error ? error.message : String(error)}`);
      await deleteAndCheck(made).catch((cleanup: unknown) => say(`clean-up failed: ${String(cleanup)}`));
    }
    throw error;
  } finally {
    watching.abort();
    await embedded.close();
  }

  async function deleteAndCheck(id: string): Promise<void> {
    const before = await instances.get(id);
    // An instance still building (no guest, or one given up on) is refused a plain delete: force it.
    await instances.delete(id, { force: before.status === 'BUILD' || args.until === 'server-active' });
    const gone = await instances.waitFor(id, (v) => v.status === 'DELETED' || v.taskStatus === 'DELETE_ERROR', {
      timeoutMs: 5 * 60_000,
    });
    if (gone.status !== 'DELETED') throw new Error(`delete ended ${gone.status}: ${gone.fault?.message ?? '-'}`);
    if (before.serverId && (await provider.listServers()).some((server) => server.id === before.serverId))
      throw new Error(`server ${before.serverId} is still there after delete`);
    say('deleted: the server is gone');
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`openstack example failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
