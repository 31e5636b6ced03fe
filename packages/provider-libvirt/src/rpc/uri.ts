/** How to reach libvirtd, parsed from a libvirt connection URI (`qemu:///system`, `qemu+ssh://host/system`). */
export interface LibvirtUri {
  /** The URI libvirtd sees in connect_open: the transport removed (`qemu:///system`). */
  name: string;
  transport: 'unix' | 'tcp' | 'tls' | 'ssh';
  host?: string;
  port?: number;
  user?: string;
  /** The daemon's unix socket (local, or remote for ssh). */
  socket: string;
  /** Extra query parameters (`keyfile`, `no_verify`, `pkipath`...). */
  params: Record<string, string>;
}

const DEFAULT_SOCKET = '/var/run/libvirt/libvirt-sock';

export function parseLibvirtUri(uri: string): LibvirtUri {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new TypeError(`uri: "${uri}" is not a libvirt URI such as qemu:///system`);
  }
  const [driver, transportName] = url.protocol.replace(/:$/, '').split('+') as [string, string | undefined];
  const params = Object.fromEntries(url.searchParams.entries());
  const path = url.pathname || '/system';
  // libvirtd needs the driver URI without transport, user, port or client-only parameters.
  const name = `${driver}://${path}`;
  const transport = (transportName ?? (url.hostname ? 'tls' : 'unix')) as LibvirtUri['transport'];
  if (!['unix', 'tcp', 'tls', 'ssh'].includes(transport)) {
    throw new TypeError(`uri: transport "${transportName}" is not supported (unix, tcp, tls, ssh)`);
  }
  const defaultPorts: Record<string, number | undefined> = { tcp: 16509, tls: 16514, ssh: 22 };
  return {
    name,
    transport,
    host: url.hostname || undefined,
    port: url.port ? Number(url.port) : defaultPorts[transport],
    user: url.username ? decodeURIComponent(url.username) : undefined,
    socket: params.socket ?? DEFAULT_SOCKET,
    params,
  };
}
