import type { RemoteNonnullNetwork } from '../protocol/remote.generated.js';
import type { LibvirtCaller } from './connection.js';

export type NetworkRef = RemoteNonnullNetwork;

/**
 * libvirt networks, read-mostly: corral's guests use QEMU user-mode networking and never need one, so
 * nothing here starts a network (the `default` NAT network would route guests off the host).
 */
export class Networks {
  constructor(private readonly connection: LibvirtCaller) {}

  async list(): Promise<Array<NetworkRef & { active: boolean }>> {
    const { nets } = await this.connection.call('connect_list_all_networks', { need_results: 1, flags: 0 });
    return Promise.all(
      nets.map(async (net) => {
        const { active } = await this.connection.call('network_is_active', { net });
        return { ...net, active: active === 1 };
      }),
    );
  }

  async lookupByName(name: string): Promise<NetworkRef> {
    const { net } = await this.connection.call('network_lookup_by_name', { name });
    return net;
  }

  async xml(net: NetworkRef): Promise<string> {
    const { xml } = await this.connection.call('network_get_xml_desc', { net, flags: 0 });
    return xml;
  }
}
