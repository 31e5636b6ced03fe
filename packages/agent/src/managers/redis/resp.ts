import { connect, type Socket } from 'node:net';

/**
 * A tiny RESP2 client: enough for the manager's PING, AUTH, ACL and CONFIG commands without shipping a
 * Redis library in the guest bundle. One command at a time per connection; a timeout on every step.
 */
export type RespValue = string | number | null | RespValue[] | RespError;

export class RespError extends Error {
  override readonly name = 'RespError';
}

/** Parses one value at `offset`; undefined when the buffer does not hold a whole value yet. */
export function parseResp(buffer: Buffer, offset = 0): { value: RespValue; next: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset] as number);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const after = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, next: after };
    case '-':
      return { value: new RespError(line), next: after };
    case ':':
      return { value: Number(line), next: after };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: after };
      if (buffer.length < after + length + 2) return undefined;
      return { value: buffer.toString('utf8', after, after + length), next: after + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: after };
      const items: RespValue[] = [];
      let next = after;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buffer, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new RespError(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

export function encodeCommand(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
  return Buffer.from(parts.join(''));
}

export class RespClient {
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { resolve: (v: RespValue) => void; reject: (e: Error) => void } | undefined;
  private closedError: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (error: Error) => {
      this.closedError ??= error;
      this.pending?.reject(error);
      this.pending = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new RespError('connection closed')));
  }

  static connect(options: { host: string; port: number; timeoutMs?: number }): Promise<RespClient> {
    const timeoutMs = options.timeoutMs ?? 2000;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RespError(`connect to ${options.host}:${options.port} timed out`));
      }, timeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new RespClient(socket, timeoutMs));
      });
    });
  }

  /** Sends one command; a Redis error reply rejects with a RespError. */
  async command(...args: string[]): Promise<RespValue> {
    if (this.closedError) throw this.closedError;
    if (this.pending) throw new RespError('one command at a time');
    const reply = await new Promise<RespValue>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        this.socket.destroy();
        reject(new RespError(`${args[0] ?? 'command'} timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending = {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.socket.write(encodeCommand(args));
    });
    if (reply instanceof RespError) throw reply;
    return reply;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    try {
      const parsed = parseResp(this.buffer);
      if (!parsed) return;
      this.buffer = this.buffer.subarray(parsed.next);
      const pending = this.pending;
      this.pending = undefined;
      pending?.resolve(parsed.value);
    } catch (error) {
      this.pending?.reject(error as Error);
      this.pending = undefined;
      this.socket.destroy();
    }
  }
}

/** Connects, authenticates (user + password, or the default user's password) and closes after `work`. */
export async function withRedis<T>(
  target: { host: string; port: number; password?: string; username?: string; timeoutMs?: number },
  work: (client: RespClient) => Promise<T>,
): Promise<T> {
  const client = await RespClient.connect(target);
  try {
    if (target.password !== undefined) {
      await client.command('AUTH', ...(target.username ? [target.username] : []), target.password);
    }
    return await work(client);
  } finally {
    client.close();
  }
}
