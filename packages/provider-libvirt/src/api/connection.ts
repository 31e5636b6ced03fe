import type { RemoteDomainEventLifecycleMsg } from '../protocol/remote.generated.js';
import { ConnectionClosedError } from '../rpc/errors.js';
import {
  type ArgsOf,
  type MsgOf,
  type OpenOptions,
  openRemote,
  type ProcedureName,
  type RemoteClient,
  type RetOf,
} from '../rpc/remote.js';

type ArgsParam<P extends ProcedureName> = ArgsOf<P> extends undefined ? [] : [ArgsOf<P>];

/** VIR_DOMAIN_EVENT_ID_LIFECYCLE. */
const EVENT_ID_LIFECYCLE = 0;

export type LifecycleListener = (event: RemoteDomainEventLifecycleMsg) => void;

export interface ConnectOptions extends OpenOptions {
  /** Called when a connection is (re)opened or lost; for logs. */
  onConnectionChange?: (state: 'open' | 'closed', error?: Error) => void;
}

/**
 * A connection to libvirtd that reopens itself: when the daemon restarts, calls in flight reject with
 * ConnectionClosedError and the next call dials again (and re-registers lifecycle event callbacks).
 */
export class LibvirtConnection {
  private current?: Promise<RemoteClient>;
  private readonly lifecycleListeners = new Set<LifecycleListener>();
  private closedByUser = false;

  constructor(
    readonly uri: string,
    private readonly options: ConnectOptions = {},
  ) {}

  /** The open remote client, dialling when there is none (or the last one closed). */
  remote(): Promise<RemoteClient> {
    if (this.closedByUser) return Promise.reject(new ConnectionClosedError('the libvirt connection was closed'));
    if (!this.current) {
      const opening = this.open();
      this.current = opening;
      opening.catch(() => {
        if (this.current === opening) this.current = undefined;
      });
    }
    return this.current;
  }

  private async open(): Promise<RemoteClient> {
    const remote = await openRemote(this.uri, this.options);
    remote.rpc.onClose((error) => {
      this.current = undefined;
      this.options.onConnectionChange?.('closed', error);
    });
    if (this.lifecycleListeners.size > 0) await this.registerLifecycle(remote);
    this.options.onConnectionChange?.('open');
    return remote;
  }

  private async registerLifecycle(remote: RemoteClient): Promise<void> {
    const { callbackID } = await remote.call('connect_domain_event_callback_register_any', {
      eventID: EVENT_ID_LIFECYCLE,
      dom: null,
    });
    remote.onEvent('domain_event_callback_lifecycle', (message) => {
      if (message.callbackID !== callbackID) return;
      for (const listener of this.lifecycleListeners) listener(message.msg);
    });
  }

  async call<P extends ProcedureName>(name: P, ...args: ArgsParam<P>): Promise<RetOf<P>> {
    const remote = await this.remote();
    return remote.call(name, ...args);
  }

  async callWithTimeout<P extends ProcedureName>(name: P, timeoutMs: number, ...args: ArgsParam<P>): Promise<RetOf<P>> {
    const remote = await this.remote();
    return remote.callWithTimeout(name, timeoutMs, ...args);
  }

  async upload<P extends ProcedureName>(
    name: P,
    args: ArgsOf<P>,
    data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  ) {
    const remote = await this.remote();
    return remote.upload(name, args, data);
  }

  /**
   * Listens for domain lifecycle events (started, stopped, defined, undefined...). Registers the callback
   * with libvirtd on first use and again after every reconnection. Returns an unsubscribe function.
   */
  async onLifecycle(listener: LifecycleListener): Promise<() => void> {
    const first = this.lifecycleListeners.size === 0;
    this.lifecycleListeners.add(listener);
    if (first && this.current) {
      const remote = await this.remote();
      await this.registerLifecycle(remote);
    } else {
      await this.remote();
    }
    return () => this.lifecycleListeners.delete(listener);
  }

  /** Typed access to an event message kind (for callers wanting more than lifecycle). */
  async onEvent<P extends ProcedureName>(name: P, listener: (message: MsgOf<P>) => void): Promise<() => void> {
    const remote = await this.remote();
    return remote.onEvent(name, listener);
  }

  async close(): Promise<void> {
    this.closedByUser = true;
    const current = this.current;
    this.current = undefined;
    if (!current) return;
    const remote = await current.catch(() => undefined);
    if (!remote) return;
    await remote.callWithTimeout('connect_close', 2000).catch(() => {});
    remote.close();
  }
}

/** Opens a connection to libvirtd (`qemu:///system`, `qemu+ssh://user@host/system`, ...). */
export async function connect(uri: string, options: ConnectOptions = {}): Promise<LibvirtConnection> {
  const connection = new LibvirtConnection(uri, options);
  await connection.remote();
  return connection;
}
