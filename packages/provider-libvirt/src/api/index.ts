import { type ConnectOptions, LibvirtConnection } from './connection.js';
import { Domains } from './domains.js';
import { Networks } from './networks.js';
import { Storage } from './storage.js';

export * from './capabilities.js';
export * from './connection.js';
export * from './domains.js';
export * from './networks.js';
export * from './storage.js';
export * from './xml.js';

/** The friendly client: one reconnecting connection and the resource APIs over it. */
export interface Libvirt {
  connection: LibvirtConnection;
  domains: Domains;
  storage: Storage;
  networks: Networks;
  close(): Promise<void>;
}

/** Opens libvirt at `uri` (e.g. `qemu:///system`, `qemu+ssh://root@host/system`). */
export async function openLibvirt(uri: string, options: ConnectOptions = {}): Promise<Libvirt> {
  const connection = new LibvirtConnection(uri, options);
  await connection.remote();
  return {
    connection,
    domains: new Domains(connection),
    storage: new Storage(connection),
    networks: new Networks(connection),
    close: () => connection.close(),
  };
}
