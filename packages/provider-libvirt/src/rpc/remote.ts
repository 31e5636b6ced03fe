import { REMOTE_PROGRAM, REMOTE_PROTOCOL_VERSION, remoteProcedures } from '../protocol/remote.generated.js';
import { type Codec, decode, encode, XdrError } from '../xdr/index.js';
import { RpcClient, type RpcClientOptions } from './client.js';
import { AuthUnsupportedError, ProtocolError } from './errors.js';
import { type RpcCallOptions, SLOW_PROCEDURES } from './limits.js';
import type { PacketHeader } from './packet.js';
import { openTransport, type TransportOptions } from './transport.js';
import { parseLibvirtUri } from './uri.js';

type Procedures = typeof remoteProcedures;
export type ProcedureName = keyof Procedures;
type CodecOf<C> = C extends Codec<infer T> ? T : never;
export type ArgsOf<P extends ProcedureName> = CodecOf<Procedures[P]['args']>;
export type RetOf<P extends ProcedureName> = CodecOf<Procedures[P]['ret']>;
export type MsgOf<P extends ProcedureName> = CodecOf<Procedures[P]['msg']>;
type ArgsParam<P extends ProcedureName> = ArgsOf<P> extends undefined ? [] : [ArgsOf<P>];

const byId = new Map<number, ProcedureName>(
  Object.entries(remoteProcedures).map(([name, procedure]) => [procedure.id, name as ProcedureName]),
);

export function procedureName(id: number): ProcedureName | undefined {
  return byId.get(id);
}

function target(name: ProcedureName) {
  return { program: REMOTE_PROGRAM, version: REMOTE_PROTOCOL_VERSION, procedure: remoteProcedures[name].id, name };
}

function decodeBody<T>(codec: Codec<T>, body: Uint8Array, what: string): T {
  try {
    return decode(codec, body);
  } catch (error) {
    if (error instanceof XdrError) throw new ProtocolError(`cannot decode ${what}: ${error.message}`, { cause: error });
    throw error;
  }
}

export interface RemoteEvent<P extends ProcedureName = ProcedureName> {
  procedure: P;
  message: MsgOf<P>;
}

/** libvirt's remote program with typed procedures: `remote.call('connect_get_lib_version')`. */
export class RemoteClient {
  constructor(readonly rpc: RpcClient) {}

  /** Calls with the default deadline (`callTimeoutMs`, or `slowCallTimeoutMs` for SLOW_PROCEDURES). */
  call<P extends ProcedureName>(name: P, ...args: ArgsParam<P>): Promise<RetOf<P>> {
    return this.callWith(name, {}, ...args);
  }

  /** Like `call`, with its own deadline (`timeoutMs`, 0 = none) and an abort `signal`. */
  async callWith<P extends ProcedureName>(name: P, options: RpcCallOptions, ...args: ArgsParam<P>): Promise<RetOf<P>> {
    const procedure = remoteProcedures[name];
    const body = encode(procedure.args as Codec<unknown>, args[0]);
    const timeoutMs = options.timeoutMs ?? (SLOW_PROCEDURES.has(name) ? this.rpc.slowCallTimeoutMs : undefined);
    const reply = await this.rpc.call(target(name), body, { ...options, timeoutMs });
    return decodeBody(procedure.ret as Codec<unknown>, reply, `${name} reply`) as RetOf<P>;
  }

  /** Like `call`, rejecting with RpcTimeoutError when the daemon does not answer within `timeoutMs`. */
  callWithTimeout<P extends ProcedureName>(
    name: P,
    timeoutMs: number | undefined,
    ...args: ArgsParam<P>
  ): Promise<RetOf<P>> {
    return this.callWith(name, { timeoutMs }, ...args);
  }

  /** Runs an upload procedure (storage_vol_upload) and streams `data` to it. */
  async upload<P extends ProcedureName>(
    name: P,
    args: ArgsOf<P>,
    data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: RpcCallOptions = {},
  ): Promise<void> {
    const body = encode(remoteProcedures[name].args as Codec<unknown>, args);
    await this.rpc.upload(target(name), body, data, options);
  }

  /** Listens for one kind of event message; returns an unsubscribe function. */
  onEvent<P extends ProcedureName>(name: P, listener: (message: MsgOf<P>) => void): () => void {
    const id = remoteProcedures[name].id;
    return this.rpc.onMessage((header: PacketHeader, body: Uint8Array) => {
      if (header.program !== REMOTE_PROGRAM || header.procedure !== id) return;
      let message: MsgOf<P>;
      try {
        message = decodeBody(remoteProcedures[name].msg as Codec<unknown>, body, `${name} event`) as MsgOf<P>;
      } catch {
        return; // an undecodable event is dropped; calls are unaffected
      }
      listener(message);
    });
  }

  close(): void {
    this.rpc.close();
  }
}

export interface OpenOptions extends TransportOptions, RpcClientOptions {
  /** connect_open flags (VIR_CONNECT_RO = 1). */
  flags?: number;
}

const REMOTE_AUTH_NONE = 0;
const REMOTE_AUTH_POLKIT = 2;

/**
 * Connects to libvirtd at `uri`, authenticates (none or polkit) and opens the driver. The dial has
 * `connectTimeoutMs`, each handshake call `callTimeoutMs`; `signal` ends it all at once.
 */
export async function openRemote(
  uri: string,
  options: OpenOptions = {},
  { signal }: { signal?: AbortSignal } = {},
): Promise<RemoteClient> {
  const parsed = parseLibvirtUri(uri);
  const stream = await openTransport(parsed, options, signal);
  const remote = new RemoteClient(new RpcClient(stream, options));
  try {
    const { types } = await remote.callWith('auth_list', { signal });
    if (types.length > 0 && !types.includes(REMOTE_AUTH_NONE)) {
      if (types.includes(REMOTE_AUTH_POLKIT)) {
        await remote.callWith('auth_polkit', { signal });
      } else {
        throw new AuthUnsupportedError(
          `libvirtd at ${uri} requires SASL authentication, which this client does not implement`,
        );
      }
    }
    await remote.callWith('connect_open', { signal }, { name: parsed.name, flags: options.flags ?? 0 });
    return remote;
  } catch (error) {
    remote.close();
    throw error;
  }
}
