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
  /** The same client whose domain, storage and network calls also end at once when `signal` aborts. */
  withSignal(signal: AbortSignal | undefined): Libvirt;
  close(): Promise<void>;
}

function libvirtOver(connection: LibvirtConnection, signal?: AbortSignal): Libvirt {
  const calls = connection.withSignal(signal);
  return {
    connection,
    domains: new Domains(calls),
    storage: new Storage(calls),
    networks: new Networks(calls),
    withSignal: (next) => (next ? libvirtOver(connection, next) : libvirtOver(connection)),
    close: () => connection.close(),
  };
}

/**
 * Opens libvirt at `uri` (e.g. `qemu:///system`, `qemu+ssh://root@host/system`). Every call has a deadline
 * (`callTimeoutMs`, 30 s; `slowCallTimeoutMs`, 120 s, for the slow ones); `signal` ends the first dial.
 */
export async function openLibvirt(
  uri: string,
  options: ConnectOptions = {},
  { signal }: { signal?: AbortSignal } = {},
): Promise<Libvirt> {
  const connection = new LibvirtConnection(uri, options);
  try {
    await connection.remote({ signal });
  } catch (error) {
    connection.close().catch(() => {}); // not awaited: an aborted caller must not wait for the dial to end
    throw error;
  }
  return libvirtOver(connection);
}
