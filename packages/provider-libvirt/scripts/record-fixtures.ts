/**
 * Records real libvirtd replies for the RPC unit tests (src/rpc/fixtures/replies.json).
 *
 *   npx tsx packages/provider-libvirt/scripts/record-fixtures.ts   (needs libvirtd: scripts/setup/40-libvirt.sh)
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { RpcClient } from '../src/rpc/client.js';
import { RemoteClient } from '../src/rpc/remote.js';

const socket = net.connect('/var/run/libvirt/libvirt-sock');
await new Promise((resolve) => socket.once('connect', resolve));
const incoming: Uint8Array[] = [];
socket.on('data', (chunk: Buffer) => incoming.push(new Uint8Array(chunk)));
const remote = new RemoteClient(new RpcClient(socket));
const steps: Array<[string, () => Promise<unknown>]> = [
  ['auth_list', () => remote.call('auth_list')],
  ['connect_open', () => remote.call('connect_open', { name: 'qemu:///system', flags: 0 })],
  ['connect_get_lib_version', () => remote.call('connect_get_lib_version')],
  ['node_get_info', () => remote.call('node_get_info')],
  [
    'domain_lookup_by_name_missing',
    () => remote.call('domain_lookup_by_name', { name: 'corral-fixture-missing' }).catch(() => null),
  ],
  ['connect_get_hostname', () => remote.call('connect_get_hostname')],
];
const recorded: Array<{ name: string; hex: string }> = [];
for (const [name, run] of steps) {
  incoming.length = 0;
  await run();
  await new Promise((resolve) => setTimeout(resolve, 50));
  recorded.push({ name, hex: Buffer.concat(incoming.filter((c) => c.byteLength > 0)).toString('hex') });
}
remote.close();
writeFileSync(new URL('../src/rpc/fixtures/replies.json', import.meta.url), `${JSON.stringify(recorded, null, 2)}\n`);
console.log(`recorded ${recorded.length} replies`);
