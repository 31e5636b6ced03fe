import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as z from 'zod';
import { AgentError } from '../errors.js';
import type { Health } from '../manager/types.js';

/** Parses a manager's `datastore.options`; a bad one is CONFIG_INVALID naming the option and the rule. */
export function parseManagerOptions<T extends z.ZodType>(schema: T, options: unknown): z.output<T> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AgentError('CONFIG_INVALID', `datastore.options.${issue?.path.join('.')}: ${issue?.message}`);
  }
  return parsed.data;
}

/** A password for a datastore's own admin account: 32 url-safe characters, never logged. */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

/** Finds an executable: an explicit path, then the given directories, then PATH. */
export function findBinary(name: string, candidates: string[] = []): string | undefined {
  for (const dir of candidates) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin').split(':')) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Newest `/usr/lib/postgresql/<major>/bin`, where Debian puts the server binaries (not on PATH). */
export function debianPostgresBinDirs(root = '/usr/lib/postgresql'): string[] {
  try {
    return readdirSync(root)
      .filter((major) => /^\d+$/.test(major))
      .sort((a, b) => Number(b) - Number(a))
      .map((major) => join(root, major, 'bin'));
  } catch {
    return [];
  }
}

/** Polls the health check until it says healthy; throws DATASTORE_FAILED with what was last seen. */
export async function waitHealthy(
  what: string,
  check: () => Promise<Health>,
  timeoutMs: number,
  logHint: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: Health = 'down';
  while (Date.now() < deadline) {
    last = await check().catch((): Health => 'starting');
    if (last === 'healthy') return;
    if (last === 'down') {
      // Give a just-spawned process a moment to show up in /proc before calling it dead.
      await sleep(300);
      last = await check().catch((): Health => 'starting');
      if (last === 'down') throw new AgentError('DATASTORE_FAILED', `${what} exited while starting: ${logHint()}`);
    }
    await sleep(100);
  }
  throw new AgentError(
    'DATASTORE_FAILED',
    `${what} did not become healthy within ${timeoutMs} ms (${last}): ${logHint()}`,
  );
}

/** The last lines of a log file, for error messages (datastore logs hold no secrets we wrote). */
export function tailFile(path: string, lines = 5): string {
  try {
    return execFileSync('tail', ['-n', String(lines), path], { encoding: 'utf8' })
      .trim()
      .replaceAll('\n', ' | ');
  } catch {
    return '(no log)';
  }
}

/** Names a user may give databases and users: no quoting games, at most 63 bytes (PostgreSQL's limit). */
export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/;

export function checkName(kind: 'database' | 'user', name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new AgentError(
      'BAD_REQUEST',
      `${kind} name: must match ${NAME_PATTERN} (got ${JSON.stringify(name.slice(0, 70))})`,
    );
  }
}
