import type { RemoteDomainEventLifecycleMsg } from '../protocol/remote.generated.js';
import { untilAborted } from '../rpc/abort.js';
import { ConnectionClosedError } from '../rpc/errors.js';
import type { RpcCallOptions } from '../rpc/limits.js';
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

type UploadData = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** What the resource APIs (domains, storage, networks) need of a connection: typed calls and uploads. */
export interface LibvirtCaller {
  call<P extends ProcedureName>(name: P, ...args: ArgsParam<P>): Promise<RetOf<P>>;
  callWith<P extends ProcedureName>(name: P, options: RpcCallOptions, ...args: ArgsParam<P>): Promise<RetOf<P>>;
  callWithTimeout<P extends ProcedureName>(name: P, timeoutMs: number, ...args: ArgsParam<P>): Promise<RetOf<P>>;
  upload<P extends ProcedureName>(name: P, args: ArgsOf<P>, data: UploadData): Promise<void>;
}

export interface ConnectOptions extends OpenOptions {
  /** Called when a connection is (re)opened or lost; for logs. */
  onConnectionChange?: (state: 'open' | 'closed', error?: Error) => void;
}

/**
 * A connection to libvirtd that reopens itself: when the daemon restarts, calls in flight reject with
 * ConnectionClosedError and the next call dials again (and re-registers lifecycle event callbacks).
 * Every call has a deadline (see RpcClientOptions); `withSignal` gives calls that also end on an abort.
 */
export class LibvirtConnection implements LibvirtCaller {
  private current?: Promise<RemoteClient>;
  private readonly lifecycleListeners = new Set<LifecycleListener>();
  private closedByUser = false;
  /** Aborts a dial still under way when the connection is closed. */
  private readonly closing = new AbortController();

  constructor(
    readonly uri: string,
    private readonly options: ConnectOptions = {},
  ) {}

  /**
   * The open remote client, dialling when there is none (or the last one closed). The dial is shared by
   * every caller, so `signal` only ends this caller's wait; the dial itself is bounded by `connectTimeoutMs`
   * and the handshake calls' deadlines.
   */
  remote(options: { signal?: AbortSignal } = {}): Promise<RemoteClient> {
    if (this.closedByUser) return Promise.reject(new ConnectionClosedError('the libvirt connection was closed'));
    if (!this.current) {
      const opening = this.open();
      this.current = opening;
      opening.catch(() => {
        if (this.current === opening) this.current = undefined;
      });
    }
    return untilAborted(this.current, options.signal, `connecting to ${this.uri}`);
  }

  private async open(): Promise<RemoteClient> {
    const remote = await openRemote(this.uri, this.options, { signal: this.closing.signal });
    remote.rpc.onClose((error) => {
      this.current = undefined;
      this.options.onConnectionChange?.('closed', error);
    });
    if (this.lifecycleListeners.size > 0) {
      try {
        await this.registerLifecycle(remote);
      } catch (error) {
        remote.close();
        throw error;
      }
    }
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

  call<P extends ProcedureName>(name: P, ...args: ArgsParam<P>): Promise<RetOf<P>> {
    return this.callWith(name, {}, ...args);
  }

  /** A call with its own deadline (`timeoutMs`) and abort `signal`, which also ends the wait for a dial. */
  async callWith<P extends ProcedureName>(name: P, options: RpcCallOptions, ...args: ArgsParam<P>): Promise<RetOf<P>> {
    const remote = await this.remote(options);
    return remote.callWith(name, options, ...args);
  }

  callWithTimeout<P extends ProcedureName>(name: P, timeoutMs: number, ...args: ArgsParam<P>): Promise<RetOf<P>> {
    return this.callWith(name, { timeoutMs }, ...args);
  }

  async upload<P extends ProcedureName>(name: P, args: ArgsOf<P>, data: UploadData, options: RpcCallOptions = {}) {
    const remote = await this.remote(options);
    return remote.upload(name, args, data, options);
  }

  /** Calls through this connection that end at once when `signal` aborts (as well as at their deadline). */
  withSignal(signal: AbortSignal | undefined): LibvirtCaller {
    if (!signal) return this;
    return {
      call: (name, ...args) => this.callWith(name, { signal }, ...args),
      callWith: (name, options, ...args) => this.callWith(name, { signal, ...options }, ...args),
      callWithTimeout: (name, timeoutMs, ...args) => this.callWith(name, { signal, timeoutMs }, ...args),
      upload: (name, args, data) => this.upload(name, args, data, { signal }),
    };
  }

  /**
   * Listens for domain lifecycle events (started, stopped, defined, undefined...). Registers the callback
   * with libvirtd on first use and again after every reconnection. Returns an unsubscribe function.
   */
  async onLifecycle(listener: LifecycleListener, options: { signal?: AbortSignal } = {}): Promise<() => void> {
    const first = this.lifecycleListeners.size === 0;
    this.lifecycleListeners.add(listener);
    const unsubscribe = () => this.lifecycleListeners.delete(listener);
    try {
      const current = this.current;
      if (first && current) {
        // Registered on the shared connection whoever waits for it: an abort only ends this wait.
        await untilAborted(
          current.then((remote) => this.registerLifecycle(remote)),
          options.signal,
          'registering for lifecycle events',
        );
      } else {
        await this.remote(options);
      }
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  /** Typed access to an event message kind (for callers wanting more than lifecycle). */
  async onEvent<P extends ProcedureName>(name: P, listener: (message: MsgOf<P>) => void): Promise<() => void> {
    const remote = await this.remote();
    return remote.onEvent(name, listener);
  }

  /** Closes the connection; a dial still under way is abandoned at once rather than awaited. */
  async close(): Promise<void> {
    this.closedByUser = true;
    this.closing.abort(new ConnectionClosedError('the libvirt connection was closed'));
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
