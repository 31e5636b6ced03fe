import type { RemoteNonnullDomain } from '../protocol/remote.generated.js';
import type { LibvirtCaller } from './connection.js';

export type DomainRef = RemoteNonnullDomain;

/** virDomainState. */
export const DomainState = {
  NOSTATE: 0,
  RUNNING: 1,
  BLOCKED: 2,
  PAUSED: 3,
  SHUTDOWN: 4,
  SHUTOFF: 5,
  CRASHED: 6,
  PMSUSPENDED: 7,
} as const;
export type DomainState = (typeof DomainState)[keyof typeof DomainState];

/** virDomainEventType, as carried by lifecycle events. */
export const DomainEvent = {
  DEFINED: 0,
  UNDEFINED: 1,
  STARTED: 2,
  SUSPENDED: 3,
  RESUMED: 4,
  STOPPED: 5,
  SHUTDOWN: 6,
  PMSUSPENDED: 7,
  CRASHED: 8,
} as const;

const METADATA_ELEMENT = 2; // VIR_DOMAIN_METADATA_ELEMENT
const UNDEFINE_FLAGS = 1 | 2 | 4; // MANAGED_SAVE | SNAPSHOTS_METADATA | NVRAM
const LIST_ALL = 0;
const START_AUTODESTROY = 2; // VIR_DOMAIN_START_AUTODESTROY

export function uuidToString(uuid: Uint8Array): string {
  const hex = Buffer.from(uuid).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function uuidFromString(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`"${uuid}" is not a UUID`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Domains: define, start, stop, inspect. Thin over the RPC calls; errors are LibvirtError. */
export class Domains {
  constructor(private readonly connection: LibvirtCaller) {}

  async list(): Promise<DomainRef[]> {
    const { domains } = await this.connection.call('connect_list_all_domains', { need_results: 1, flags: LIST_ALL });
    return domains;
  }

  async define(xml: string): Promise<DomainRef> {
    const { dom } = await this.connection.call('domain_define_xml_flags', { xml, flags: 0 });
    return dom;
  }

  /**
   * Starts a transient domain from XML (gone once it stops). `autoDestroy`: libvirtd destroys it when this
   * client's connection closes, however that happens (VIR_DOMAIN_START_AUTODESTROY).
   */
  async createTransient(xml: string, timeoutMs?: number, options: { autoDestroy?: boolean } = {}): Promise<DomainRef> {
    const args = { xml_desc: xml, flags: options.autoDestroy ? START_AUTODESTROY : 0 };
    const { dom } = timeoutMs
      ? await this.connection.callWithTimeout('domain_create_xml', timeoutMs, args)
      : await this.connection.call('domain_create_xml', args);
    return dom;
  }

  async start(dom: DomainRef): Promise<void> {
    await this.connection.call('domain_create', { dom });
  }

  async destroy(dom: DomainRef, timeoutMs?: number): Promise<void> {
    if (timeoutMs) await this.connection.callWithTimeout('domain_destroy', timeoutMs, { dom });
    else await this.connection.call('domain_destroy', { dom });
  }

  async undefine(dom: DomainRef): Promise<void> {
    await this.connection.call('domain_undefine_flags', { dom, flags: UNDEFINE_FLAGS });
  }

  async shutdown(dom: DomainRef): Promise<void> {
    await this.connection.call('domain_shutdown', { dom });
  }

  async reboot(dom: DomainRef, flags = 0): Promise<void> {
    await this.connection.call('domain_reboot', { dom, flags });
  }

  /** Hard reset, like pressing the reset button. */
  async reset(dom: DomainRef): Promise<void> {
    await this.connection.call('domain_reset', { dom, flags: 0 });
  }

  async lookupByName(name: string): Promise<DomainRef> {
    const { dom } = await this.connection.call('domain_lookup_by_name', { name });
    return dom;
  }

  async lookupByUuid(uuid: string): Promise<DomainRef> {
    const { dom } = await this.connection.call('domain_lookup_by_uuid', { uuid: uuidFromString(uuid) });
    return dom;
  }

  async state(dom: DomainRef, timeoutMs?: number): Promise<{ state: DomainState; reason: number }> {
    const args = { dom, flags: 0 };
    const result = timeoutMs
      ? await this.connection.callWithTimeout('domain_get_state', timeoutMs, args)
      : await this.connection.call('domain_get_state', args);
    return { state: result.state as DomainState, reason: result.reason };
  }

  async isPersistent(dom: DomainRef): Promise<boolean> {
    const { persistent } = await this.connection.call('domain_is_persistent', { dom });
    return persistent === 1;
  }

  /** The domain's XML; `inactive` gives the persistent definition rather than the running one. */
  async xml(dom: DomainRef, options: { inactive?: boolean } = {}): Promise<string> {
    const { xml } = await this.connection.call('domain_get_xml_desc', { dom, flags: options.inactive ? 2 : 0 });
    return xml;
  }

  /** One `<metadata>` element of ours, by namespace URI; undefined when the domain has none. */
  async metadata(dom: DomainRef, namespaceUri: string): Promise<string | undefined> {
    try {
      const { metadata } = await this.connection.call('domain_get_metadata', {
        dom,
        type: METADATA_ELEMENT,
        uri: namespaceUri,
        flags: 0,
      });
      return metadata;
    } catch (error) {
      if ((error as { code?: unknown }).code === 80) return undefined; // VIR_ERR_NO_DOMAIN_METADATA
      throw error;
    }
  }

  async info(dom: DomainRef) {
    const info = await this.connection.call('domain_get_info', { dom });
    return {
      state: info.state as DomainState,
      maxMemKiB: Number(info.maxMem),
      memoryKiB: Number(info.memory),
      vcpus: info.nrVirtCpu,
      cpuTimeNs: info.cpuTime,
    };
  }

  /**
   * The guest's interface addresses. `source` 0 = DHCP leases (libvirt networks), 1 = guest agent,
   * 2 = ARP table. User-mode networking has none of them: its guest address is QEMU's fixed 10.0.2.15.
   */
  async interfaceAddresses(dom: DomainRef, source: 0 | 1 | 2 = 0) {
    const { ifaces } = await this.connection.call('domain_interface_addresses', { dom, source, flags: 0 });
    return ifaces.map((iface) => ({
      name: iface.name,
      mac: iface.hwaddr ?? undefined,
      addresses: iface.addrs.map((addr) => ({
        type: addr.type === 1 ? 'ipv6' : 'ipv4',
        address: addr.addr,
        prefix: addr.prefix,
      })),
    }));
  }
}
