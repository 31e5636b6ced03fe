/**
 * The embedded control plane with the real libvirt provider, as a child process the libvirt kill suite
 * SIGKILLs (`node --import tsx libvirt-child.ts`, settings in the JSON file named by CORRAL_CHILD_CONFIG).
 * With `killAfter: { procedure, count }` it prints `AT <procedure> <what>` once the count-th such libvirt call
 * has returned, and hangs there for the parent's SIGKILL; a kill point armed `onDelete` counts only calls made
 * after a delete was asked. Commands on stdin, one per line, each answered on stdout:
 *   create <name>        → CREATED <instance id>
 *   server <id>          → SERVER <id> <server id>       (once the create recorded its server)
 *   delete <id>          → DELETING <id>                 (forced: works in BUILD too)
 *   deleted <id>         → DELETED <id>                  (once the instance is marked deleted)
 * Prints READY once started. With `probeOnly` it runs the KVM probe instead of a control plane.
 */
import { readFileSync } from 'node:fs';
import { startEmbeddedControlPlane } from '@corral/core';
import { createLibvirtProvider, probeKvm } from '@corral/provider-libvirt';
import pino from 'pino';

export interface LibvirtChildConfig {
  stateDir: string;
  uri: string;
  namePrefix: string;
  pool: { name: string; path: string };
  consoleLogDir: string;
  image: { kernel: string; initrd: string };
  domainType: 'auto' | 'qemu';
  killAfter?: { procedure: string; count: number; onDelete?: boolean };
  /** Only run the KVM probe (as `domainType: 'auto'` does), under TCG so it makes a domain on any host. */
  probeOnly?: boolean;
}

const config = JSON.parse(readFileSync(String(process.env.CORRAL_CHILD_CONFIG), 'utf8')) as LibvirtChildConfig;
const say = (line: string) => process.stdout.write(`${line}\n`);
const logger = pino({ level: process.env.CORRAL_TEST_LOG ?? 'silent' }, pino.destination(2));

const provider = createLibvirtProvider({
  uri: config.uri,
  namePrefix: config.namePrefix,
  pool: config.pool,
  consoleLogDir: config.consoleLogDir,
  domainType: config.domainType,
  images: [{ kind: 'kernel', name: 'corral-guest', kernel: config.image.kernel, initrd: config.image.initrd }],
  logger,
});

// The kill point: wrap the client's call so the process stops right after libvirt did what it was asked.
let armed = config.killAfter !== undefined && config.killAfter.onDelete !== true;
let seen = 0;
const connection = (await provider.libvirt()).connection;
async function stopIfKillPoint(procedure: string, args: unknown[]): Promise<void> {
  const point = config.killAfter;
  if (!armed || point === undefined || procedure !== point.procedure || ++seen !== point.count) return;
  const first = args[0] as { xml_desc?: string; dom?: { name?: string }; vol?: { name?: string } } | undefined;
  const what = /<name>([^<]+)<\/name>/.exec(first?.xml_desc ?? '')?.[1] ?? first?.dom?.name ?? first?.vol?.name;
  say(`AT ${procedure} ${what ?? ''}`);
  await new Promise(() => undefined);
}
// Every call (call, callWithTimeout, withSignal(...)) goes through callWith.
const callWith = connection.callWith.bind(connection) as (
  procedure: string,
  options: unknown,
  ...args: unknown[]
) => Promise<unknown>;
connection.callWith = (async (procedure: string, options: unknown, ...args: unknown[]) => {
  const result = await callWith(procedure, options, ...args);
  await stopIfKillPoint(procedure, args);
  return result;
}) as typeof connection.callWith;

if (config.probeOnly) {
  say('READY');
  const result = await probeKvm(connection, {
    kernelPath: config.image.kernel,
    domainType: 'qemu',
    namePrefix: config.namePrefix,
    callTimeoutMs: 60_000, // a TCG domain can take seconds to start on a busy machine
  });
  say(`PROBED ${result.usable} ${result.reason}`);
  process.exit(0);
}

const embedded = await startEmbeddedControlPlane({
  stateDir: config.stateDir,
  providers: { libvirt: provider },
  logger,
  controlPlane: {
    heartbeat: { intervalSeconds: 1 },
    lease: { leaseMs: 2_000, idleMs: 100 },
    timeouts: { buildMs: 10 * 60_000, deleteMs: 60_000, providerPollMs: 200, guestCallMs: 1_000 },
  },
});
const { instances } = embedded.controlPlane;
say('READY');

let buffer = '';
process.stdin.on('data', (chunk: Buffer) => {
  buffer += chunk.toString();
  const lines = buffer.split('\n');
  buffer = lines.pop() ?? '';
  for (const line of lines) void run(line.trim().split(' '));
});

async function run([command, argument = '']: string[]): Promise<void> {
  try {
    if (command === 'create') {
      const created = await instances.create({ name: argument, flavor: 'corral.micro', datastore: { type: 'redis' } });
      say(`CREATED ${created.id}`);
    } else if (command === 'server') {
      const view = await instances.waitFor(argument, (v) => v.serverId !== null, { timeoutMs: 120_000 });
      say(`SERVER ${argument} ${view.serverId}`);
    } else if (command === 'delete') {
      if (config.killAfter?.onDelete) armed = true;
      await instances.delete(argument, { force: true });
      say(`DELETING ${argument}`);
    } else if (command === 'deleted') {
      await instances.waitFor(argument, (v) => v.deletedAt !== null, { timeoutMs: 120_000 });
      say(`DELETED ${argument}`);
    }
  } catch (error) {
    say(`FAILED ${command} ${(error as Error).message}`);
  }
}
