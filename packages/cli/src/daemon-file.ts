import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { CliError, ExitCode } from './exit-codes.js';

/** Where `corral up` says it listens, so `corral instance ...` finds it: `<stateDir>/daemon.json`. */
export const DaemonInfoSchema = z.object({ url: z.url(), pid: z.number().int(), brokerUrl: z.string() });
export type DaemonInfo = z.infer<typeof DaemonInfoSchema>;

export const defaultStateDir = () => process.env.CORRAL_STATE_DIR ?? '/var/lib/corral';

export const daemonFile = (stateDir: string) => join(stateDir, 'daemon.json');

export async function writeDaemonInfo(stateDir: string, info: DaemonInfo): Promise<void> {
  await writeFile(daemonFile(stateDir), `${JSON.stringify(info)}\n`, { mode: 0o600 });
}

export async function removeDaemonInfo(stateDir: string): Promise<void> {
  await rm(daemonFile(stateDir), { force: true });
}

const notRunning = (stateDir: string, why: string) =>
  new CliError(
    `the corral daemon is not reachable (${why}); start it with \`corral up --state-dir ${stateDir}\``,
    ExitCode.unavailable,
  );

export async function readDaemonInfo(stateDir: string): Promise<DaemonInfo> {
  let text: string;
  try {
    text = await readFile(daemonFile(stateDir), 'utf8');
  } catch {
    throw notRunning(stateDir, `no ${daemonFile(stateDir)}`);
  }
  const parsed = DaemonInfoSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw notRunning(stateDir, `${daemonFile(stateDir)} is not a daemon file`);
  return parsed.data;
}

/** Calls the daemon's API; maps an unreachable daemon to exit 3, 404 to exit 4, 400 to exit 2. */
export async function callDaemon(
  stateDir: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const info = await readDaemonInfo(stateDir);
  let response: Response;
  try {
    response = await fetch(`${info.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch {
    throw notRunning(stateDir, `nothing answers at ${info.url}`);
  }
  const payload = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (response.ok) return payload;
  const message = payload.error?.message ?? `HTTP ${response.status}`;
  if (response.status === 404) throw new CliError(message, ExitCode.notFound);
  if (response.status === 400) throw new CliError(message, ExitCode.usage);
  throw new CliError(message, ExitCode.failed);
}
