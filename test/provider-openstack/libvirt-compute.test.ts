/**
 * A real VM on the test cloud's libvirt compute: the corral guest image (kernel + initramfs) uploaded to
 * Glance through provider-openstack, booted by Nova on host corral-qemu (QEMU software emulation) with the
 * agent's bootstrap in a config drive, and its console read through Nova (`os-getConsoleOutput`) until the
 * agent says it took its configuration from the config drive. There is no guest network to a broker on this
 * Nova: the MQTT leg is tested on provider-libvirt (test/e2e). The delete must leave no server, no libvirt
 * domain and no instance directory.
 *
 * Needs: scripts/setup/40-libvirt.sh (libvirtd, QEMU), scripts/setup/60-openstack.sh (the cloud with its
 * libvirt compute corral-qemu and flavor corral.qemu), and the guest image built with the agent bundle
 * (`npm run build && bash scripts/guest-image/build.sh`; scripts/test.sh does both before the suites run).
 * A missing image fails the suite: it is never skipped.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ConflictError, createCa, encodeAgentUserData, ProvisioningFailedError } from '@corral/core';
import { issueGuestCertificate } from '@corral/core/pki';
import { corralGuestImage } from '@corral/provider-libvirt';
import { compute, type OpenStackProvider } from '@corral/provider-openstack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminProvider, Cleanup, FLAVOR, IMAGE, requireCloud, unique, waitForCompute } from './cloud.js';

const run = promisify(execFile);
const imageDir = resolve(import.meta.dirname, '..', '..', '.cache', 'guest-image');
const QEMU_HOST = 'corral-qemu';
const QEMU_FLAVOR = 'corral.qemu';
/** instances_path in test/openstack-cloud/conf/nova-compute-qemu.conf. */
const INSTANCES = '/var/lib/corral-openstack/qemu/instances';
/** The libvirt compute names its domains nova-corral-%08x (instance_name_template in that file). */
const DOMAIN_PREFIX = 'nova-corral-';

const cleanup = new Cleanup();
let provider: OpenStackProvider;

beforeAll(async () => {
  for (const file of ['vmlinux', 'initrd.img']) {
    try {
      await access(join(imageDir, file));
    } catch {
      throw new Error(
        `${join(imageDir, file)} is missing: build the guest image first (npm run build && bash scripts/guest-image/build.sh)`,
      );
    }
  }
  await requireCloud();
  await waitForCompute(QEMU_HOST);
  // Admin: "nova:<host>" pins the server to the libvirt compute; the flavor's required trait is what
  // lets it into that compute's isolated aggregate at all.
  provider = adminProvider({ availabilityZone: `nova:${QEMU_HOST}`, defaultNetwork: 'none', pollIntervalMs: 1_000 });
  await provider.connect();
});
afterAll(() => cleanup.run());

async function domainUuids(): Promise<string[]> {
  const { stdout } = await run('virsh', ['-c', 'qemu:///system', '-q', 'list', '--all', '--uuid']);
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Nova keeps a copy of every image it booted under _base, named by the sha1 of the image id. */
async function dropCachedImage(imageId: string): Promise<void> {
  await rm(join(INSTANCES, '_base', createHash('sha1').update(imageId).digest('hex')), { force: true });
}

async function uploadGuestImage(): Promise<string> {
  const guest = corralGuestImage(imageDir);
  if (!guest.initrd || !guest.cmdline) throw new Error('corralGuestImage gave no initrd or command line');
  const { initrd, cmdline } = guest;
  const kernel = await provider.uploadImage({
    name: unique('corral-qemu-kernel'),
    diskFormat: 'aki',
    containerFormat: 'aki',
    visibility: 'private',
    data: createReadStream(guest.kernel),
  });
  cleanup.add(`kernel image ${kernel.id}`, async () => {
    await provider.deleteImage(kernel.id);
    await dropCachedImage(kernel.id);
  });
  const ramdisk = await provider.uploadImage({
    name: unique('corral-qemu-initrd'),
    diskFormat: 'ari',
    containerFormat: 'ari',
    visibility: 'private',
    data: createReadStream(initrd),
  });
  cleanup.add(`ramdisk image ${ramdisk.id}`, async () => {
    await provider.deleteImage(ramdisk.id);
    await dropCachedImage(ramdisk.id);
  });
  // The guest runs from its initramfs and never reads this disk; Nova's kernel boot hangs off a disk image
  // whose properties name the kernel, the ramdisk and the command line (the libvirt provider's own).
  const root = await provider.uploadImage({
    name: unique('corral-qemu-root'),
    diskFormat: 'raw',
    containerFormat: 'bare',
    visibility: 'private',
    data: Buffer.alloc(1024 * 1024),
    properties: { kernel_id: kernel.id, ramdisk_id: ramdisk.id, os_command_line: cmdline },
  });
  cleanup.add(`root image ${root.id}`, async () => {
    await provider.deleteImage(root.id);
    await dropCachedImage(root.id);
  });
  return root.id;
}

/** A real agent configuration, as the control plane writes it: its own CA, a guest certificate, a broker. */
async function agentBootstrap(guestId: string): Promise<string> {
  const ca = await createCa({ commonName: 'corral libvirt-compute test CA' });
  const cert = await issueGuestCertificate(ca, { guestId });
  return encodeAgentUserData({
    guestId,
    instanceId: guestId,
    // Not reachable from a Nova guest here (no network): the agent starts, then waits for it.
    broker: { url: 'mqtts://10.0.2.2:8883', caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem },
    datastore: { manager: 'redis', version: '7.0' },
  });
}

/** Polls the console until `pattern` shows, and says how long that took. */
async function waitForConsole(
  id: string,
  pattern: RegExp,
  timeoutMs: number,
): Promise<{ output: string; afterMs: number }> {
  const nova = await provider.client.compute();
  const started = Date.now();
  let output = '';
  while (Date.now() - started < timeoutMs) {
    try {
      output = await compute.getConsoleOutput(nova, id);
    } catch (error) {
      // Until the domain runs, Nova may have no console to read yet.
      if (!(error instanceof ConflictError)) throw error;
    }
    if (pattern.test(output)) return { output, afterMs: Date.now() - started };
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
  throw new Error(
    `the console did not show ${pattern} within ${timeoutMs / 1000} s; it shows:\n${output.slice(-3000)}`,
  );
}

describe('a real VM on the libvirt compute (corral-qemu)', () => {
  it("keeps other flavors' servers off the libvirt compute, even when pinned to it", async () => {
    // The compute's aggregate takes only flavors that require its trait, so the fake-driver suites' servers
    // (m1.tiny, no zone) can never land there; pinning one to the host proves it without relying on weights.
    const server = await provider.createServer({
      name: unique('corral-qemu-refused'),
      idempotencyKey: unique('key'),
      flavor: FLAVOR,
      image: IMAGE,
      bootstrap: { userData: '#cloud-config\n', configDrive: false },
    });
    cleanup.add(`server ${server.id}`, () => provider.deleteServer(server.id));
    const failure = await provider.waitForServer(server.id, { timeoutMs: 90_000 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ProvisioningFailedError);
    expect(String((failure as Error).message)).toMatch(/No valid host/);
  });

  it('boots the guest image from Glance, the agent reads its bootstrap from the config drive, and the delete leaves nothing', async () => {
    const imageId = await uploadGuestImage();
    const guestId = randomUUID();
    const userData = await agentBootstrap(guestId);

    const t0 = Date.now();
    const server = await provider.createServer({
      name: unique('corral-qemu-vm'),
      idempotencyKey: unique('key'),
      flavor: QEMU_FLAVOR,
      image: imageId,
      bootstrap: { userData, configDrive: true },
    });
    let deleted = false;
    cleanup.add(`server ${server.id}`, async () => {
      if (!deleted) await provider.deleteServer(server.id);
    });
    await provider.waitForServer(server.id, { timeoutMs: 180_000 });
    const activeMs = Date.now() - t0;

    const nova = await provider.client.compute();
    const details = await compute.getServer(nova, server.id);
    expect(details['OS-EXT-SRV-ATTR:host']).toBe(QEMU_HOST);
    const { stdout: domainName } = await run('virsh', ['-c', 'qemu:///system', 'domname', server.id]);
    expect(domainName.trim().startsWith(DOMAIN_PREFIX)).toBe(true);

    // The guest's init mounts the config drive (ISO 9660, label config-2); the agent then names the file it
    // read its configuration from in its first log line.
    const agentLine =
      /"source":"\/run\/corral\/config-drive\/openstack\/latest\/user_data"[^\n]*"msg":"corral-agent starting"/;
    const { output, afterMs } = await waitForConsole(server.id, agentLine, 240_000);
    const seedLine = /corral-guest: seed mounted: configdrive from \/dev\/\S+ at \/run\/corral\/config-drive/.exec(
      output,
    );
    expect(seedLine).not.toBeNull();
    expect(output).toContain(`"guestId":"${guestId}"`);
    expect(output).not.toMatch(/CONFIG_INVALID|invalid agent configuration/);
    expect(output).not.toContain('PRIVATE KEY');
    console.info(
      `libvirt compute: ACTIVE ${(activeMs / 1000).toFixed(1)} s after create; agent read the config drive ${(afterMs / 1000).toFixed(1)} s after ACTIVE (${seedLine?.[0]})`,
    );

    await provider.deleteServer(server.id);
    deleted = true;
    await expect(compute.getServer(nova, server.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await domainUuids()).not.toContain(server.id);
    expect(await exists(join(INSTANCES, server.id))).toBe(false);
  }, 600_000);
});
