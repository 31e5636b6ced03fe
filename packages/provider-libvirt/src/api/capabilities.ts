import { randomUUID } from 'node:crypto';
import type { LibvirtConnection } from './connection.js';
import { Domains } from './domains.js';
import { escapeXml } from './xml.js';

export interface HostCapabilities {
  arch: string;
  /** Domain types the hypervisor driver advertises for x86_64 guests (`qemu`, `kvm`). */
  domainTypes: string[];
  xml: string;
}

export async function getCapabilities(connection: LibvirtConnection): Promise<HostCapabilities> {
  const { capabilities: xml } = await connection.call('connect_get_capabilities');
  const arch = /<host>[\s\S]*?<arch>([^<]+)<\/arch>/.exec(xml)?.[1] ?? 'unknown';
  const guest = /<guest>[\s\S]*?<arch name='x86_64'>([\s\S]*?)<\/arch>[\s\S]*?<\/guest>/.exec(xml)?.[1] ?? '';
  const domainTypes = [...guest.matchAll(/<domain type='([a-z]+)'/g)].map((m) => m[1]!);
  return { arch, domainTypes: [...new Set(domainTypes)], xml };
}

export interface KvmProbeOptions {
  /**
   * A Linux kernel on the libvirt host. The probe boots it under KVM with no root and `panic=-1`: it panics,
   * reboots, and `on_reboot=destroy` ends the domain. A working KVM does this in about a second; a broken one
   * (this host: /dev/kvm exists, guests hang) never gets there. Without a kernel the probe runs the firmware
   * alone, which catches a KVM that cannot start but not one that hangs later.
   */
  kernelPath?: string;
  /** How long the guest may take to get through its boot (default 12 s). */
  deadlineMs?: number;
  /** Per-RPC deadline while probing: a hung KVM can block libvirtd's calls on that domain. */
  callTimeoutMs?: number;
  /** The domain type to try; `qemu` (TCG) checks the probe itself where KVM is absent. Default `kvm`. */
  domainType?: 'kvm' | 'qemu';
  /** The probe domain is `<namePrefix>kvm-probe-<random>` (default `corral-`). */
  namePrefix?: string;
}

export interface KvmProbeResult {
  usable: boolean;
  reason: string;
  elapsedMs: number;
}

const cache = new Map<string, Promise<KvmProbeResult>>();

/** Is KVM really usable on this host? Cached per URI and kernel; never hangs past its deadline. */
export function probeKvm(connection: LibvirtConnection, options: KvmProbeOptions = {}): Promise<KvmProbeResult> {
  const key = `${connection.uri}\n${options.kernelPath ?? ''}\n${options.domainType ?? 'kvm'}\n${options.namePrefix ?? ''}`;
  let result = cache.get(key);
  if (!result) {
    result = runKvmProbe(connection, options);
    cache.set(key, result);
    result.catch(() => cache.delete(key));
  }
  return result;
}

async function runKvmProbe(connection: LibvirtConnection, options: KvmProbeOptions): Promise<KvmProbeResult> {
  const started = Date.now();
  const elapsed = () => Date.now() - started;
  const caps = await getCapabilities(connection);
  const type = options.domainType ?? 'kvm';
  if (!caps.domainTypes.includes(type)) {
    return { usable: false, reason: `libvirt does not offer the ${type} domain type`, elapsedMs: elapsed() };
  }
  const deadlineMs = options.deadlineMs ?? 12_000;
  const callTimeoutMs = options.callTimeoutMs ?? 5_000;
  const domains = new Domains(connection);
  const name = `${probeNamePrefix(options.namePrefix ?? 'corral-')}${randomUUID().slice(0, 8)}`;
  const marker = probeMarkerXml(new Date(started + deadlineMs));
  const boot = options.kernelPath
    ? `<kernel>${escapeXml(options.kernelPath)}</kernel><cmdline>panic=-1 root=/dev/corral-probe-none rdinit=/corral-probe-none</cmdline>`
    : `<bios rebootTimeout='0'/>`;
  const xml =
    `<domain type='${type}'><name>${name}</name><metadata>${marker}</metadata>` +
    `<memory unit='MiB'>64</memory><vcpu>1</vcpu>` +
    `<os><type arch='x86_64' machine='pc'>hvm</type>${boot}</os>` +
    // The CPU servers get: host-passthrough makes QEMU set MSRs (e.g. 0x10a) that a broken KVM refuses at start.
    (type === 'kvm' ? `<cpu mode='host-passthrough'/>` : '') +
    `<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>` +
    `<devices><memballoon model='none'/></devices></domain>`;
  let dom: Awaited<ReturnType<Domains['createTransient']>>;
  try {
    // Auto-destroyed by libvirtd when this connection goes: a prober killed mid-probe leaves nothing running.
    dom = await domains.createTransient(xml, callTimeoutMs, { autoDestroy: true });
  } catch (error) {
    await domains
      .lookupByName(name)
      .then((found) => domains.destroy(found, callTimeoutMs))
      .catch(() => {});
    return {
      usable: false,
      reason: `a ${type} domain did not start: ${(error as Error).message}`,
      elapsedMs: elapsed(),
    };
  }
  try {
    while (elapsed() < deadlineMs) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      try {
        await domains.state(dom, callTimeoutMs);
      } catch (error) {
        if ((error as { code?: unknown }).code === 42) {
          return { usable: true, reason: `a ${type} guest booted and reset within the deadline`, elapsedMs: elapsed() };
        }
        break; // a timed-out call is the hang we are probing for
      }
    }
    return {
      usable: false,
      reason: `a ${type} guest did not get through its boot within ${deadlineMs} ms`,
      elapsedMs: elapsed(),
    };
  } finally {
    await domains.destroy(dom, callTimeoutMs).catch(() => {});
  }
}

/** Our mark on a probe domain, with the time by which its prober destroys it. */
export const PROBE_METADATA_NAMESPACE = 'https://corral.dev/xmlns/provider-libvirt/kvm-probe/1';

export function probeNamePrefix(namePrefix: string): string {
  return `${namePrefix}kvm-probe-`;
}

export function probeMarkerXml(destroyBy: Date): string {
  return `<probe:kvm-probe xmlns:probe='${PROBE_METADATA_NAMESPACE}' destroy-by='${destroyBy.toISOString()}'/>`;
}

/** How long after its own deadline a probe domain is surely no live probe's (its last RPCs have timed out). */
const LEFTOVER_GRACE_MS = 60_000;

/**
 * Destroys probe domains an interrupted prober left running (killed before libvirtd's auto-destroy, or made by
 * a libvirtd restarted meanwhile): only those named `<namePrefix>kvm-probe-` that carry our marker and are
 * past their destroy-by time plus a grace, so a probe still running in another process is left alone.
 * Returns the names it destroyed.
 */
export async function removeProbeLeftovers(
  connection: LibvirtConnection,
  options: { namePrefix?: string; now?: number } = {},
): Promise<string[]> {
  const domains = new Domains(connection);
  const prefix = probeNamePrefix(options.namePrefix ?? 'corral-');
  const now = options.now ?? Date.now();
  const removed: string[] = [];
  for (const dom of await domains.list()) {
    if (!dom.name.startsWith(prefix)) continue;
    const marker = await domains.metadata(dom, PROBE_METADATA_NAMESPACE).catch(() => undefined);
    const destroyBy = Date.parse(/destroy-by=["']([^"']+)["']/.exec(marker ?? '')?.[1] ?? '');
    if (Number.isNaN(destroyBy) || now < destroyBy + LEFTOVER_GRACE_MS) continue;
    try {
      await domains.destroy(dom, 10_000);
      removed.push(dom.name);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 42) throw error; // gone meanwhile is fine
    }
  }
  return removed;
}
