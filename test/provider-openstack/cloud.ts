/**
 * Shared helpers for the suites that run against the real one-node OpenStack started by
 * scripts/setup/60-openstack.sh (Keystone 5000, Glance 9292, Placement 8778, Nova 8774 with the fake
 * driver, Neutron 9696, all on 127.0.0.1; clouds `corral-admin` and `corral-demo` in /etc/openstack/clouds.yaml).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createOpenStackProvider,
  OpenStackClient,
  type OpenStackProvider,
  type OpenStackProviderOptions,
} from '@corral/provider-openstack';
import * as z from 'zod';

export const ADMIN_CLOUD = 'corral-admin';
export const DEMO_CLOUD = 'corral-demo';
export const FLAVOR = 'm1.tiny';
export const IMAGE = 'corral-test-image';
export const NETWORK = 'corral-net';

/** Fails (never skips) when the cloud is not up: the setup script is expected to have started it. */
export async function requireCloud(): Promise<void> {
  try {
    const response = await fetch('http://127.0.0.1:5000/v3', { signal: AbortSignal.timeout(5_000) });
    if (response.status !== 200) throw new Error(`status ${response.status}`);
  } catch (error) {
    throw new Error(
      `the OpenStack test cloud is not reachable on 127.0.0.1:5000 (run scripts/setup/60-openstack.sh): ${String(error)}`,
    );
  }
}

export function demoProvider(options: OpenStackProviderOptions = {}): OpenStackProvider {
  return createOpenStackProvider({ cloud: DEMO_CLOUD, defaultNetwork: NETWORK, pollIntervalMs: 500, ...options });
}

export function adminClient(): OpenStackClient {
  return new OpenStackClient({ cloud: ADMIN_CLOUD });
}

export function adminProvider(options: OpenStackProviderOptions = {}): OpenStackProvider {
  return createOpenStackProvider({ cloud: ADMIN_CLOUD, defaultNetwork: NETWORK, pollIntervalMs: 500, ...options });
}

/** A name no earlier run used, so leftovers from a crashed run never collide. */
export const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** Things to remove after a test, run in reverse order; failures are reported, not hidden. */
export class Cleanup {
  private readonly steps: { what: string; run: () => Promise<unknown> }[] = [];

  add(what: string, run: () => Promise<unknown>): void {
    this.steps.push({ what, run });
  }

  async run(): Promise<void> {
    const failures: string[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop();
      if (!step) break;
      try {
        await step.run();
      } catch (error) {
        if ((error as { code?: string }).code !== 'NOT_FOUND') failures.push(`${step.what}: ${String(error)}`);
      }
    }
    if (failures.length > 0) throw new Error(`cleanup failed:\n${failures.join('\n')}`);
  }
}

const ComputeServices = z.object({
  services: z.array(z.object({ host: z.string(), state: z.string(), status: z.string() })),
});

/**
 * Waits until the nova-compute on `host` is up and enabled. Nova's libvirt driver disables its service
 * when its libvirtd connection drops (test/faults/libvirtd-restart.test.ts restarts the shared libvirtd) and
 * enables it again once it reconnects, within its next periodic task.
 */
export async function waitForCompute(host: string, timeoutMs = 180_000): Promise<void> {
  const compute = await adminClient().compute();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await compute.get<unknown>(`${compute.endpoint}/os-services?binary=nova-compute`);
    const service = ComputeServices.parse(body).services.find((s) => s.host === host);
    if (service?.state === 'up' && service.status === 'enabled') return;
    if (Date.now() > deadline) {
      throw new Error(`nova-compute ${host} is ${service ? `${service.state}/${service.status}` : 'missing'}`);
    }
    await sleep(2_000);
  }
}
