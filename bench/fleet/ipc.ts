/**
 * Request/reply over the fork IPC channel between the fleet benchmark and its child processes (agent hosts,
 * the conductor, the aedes broker). Each request carries an id; the child answers with the same id.
 */
import { type ChildProcess, fork } from 'node:child_process';

export type Message = { type: string; id?: number; error?: string; [key: string]: unknown };
export type Handler = (message: Message) => Promise<Record<string, unknown>> | Record<string, unknown>;

const children = new Set<ChildProcess>();
let nextId = 1;

/** Forks `file` under tsx and waits for its `ready` message (which may carry values, e.g. a port). */
export function forkChild(
  file: string,
  config: unknown,
  options: { exposeGc?: boolean } = {},
): Promise<{ child: ChildProcess; ready: Message }> {
  const child = fork(file, [], {
    execArgv: [
      '--import',
      'tsx',
      ...(options.exposeGc ? ['--expose-gc'] : []),
      ...(process.env.BENCH_FLEET_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_FLEET_PROFILE}`] : []),
    ],
    env: { ...process.env, FLEET_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${file} exited with ${code} before it was ready`));
    child.once('exit', onExit);
    child.once('message', (ready: Message) => {
      child.off('exit', onExit);
      resolve({ child, ready });
    });
  });
}

/** Sends a request and resolves with the child's reply; rejects on an error reply or if the child exits. */
export function request(child: ChildProcess, message: Message): Promise<Message> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const onMessage = (reply: Message) => {
      if (reply.id !== id) return;
      cleanup();
      if (reply.error) reject(new Error(`${message.type}: ${reply.error}`));
      else resolve(reply);
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`${message.type}: child exited (${code ?? signal})`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.send({ ...message, id });
  });
}

/** Closes a child's IPC channel (it exits on that), and SIGKILLs it if it is still there after `graceMs`. */
export async function endChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.disconnect();
  await Promise.race([exited, sleep(graceMs)]);
  await killChild(child);
}

/** SIGKILLs a child and waits for it to be gone. */
export async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Last resort on the way out: nothing this benchmark forked outlives it. */
export function killAllChildren(): void {
  for (const child of children) child.kill('SIGKILL');
}

/** Child side: answers requests with the handler of their type, then says `ready`. */
export function serve(handlers: Record<string, Handler>, ready: Record<string, unknown> = {}): void {
  process.on('message', async (message: Message) => {
    const handler = handlers[message.type];
    try {
      if (!handler) throw new Error(`unknown request ${message.type}`);
      process.send?.({ ...(await handler(message)), type: `${message.type}:reply`, id: message.id });
    } catch (error) {
      process.send?.({ type: `${message.type}:reply`, id: message.id, error: String(error) });
    }
  });
  // The parent going away (killed harness) takes the children with it.
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', ...ready });
}

export function childConfig<T>(): T {
  return JSON.parse(process.env.FLEET_CONFIG ?? '{}') as T;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
