import { createHash } from 'node:crypto';
import * as z from 'zod';
import { AgentError } from '../../errors.js';

/** Manager-specific options under `datastore.options` for redis. */
export const RedisOptionsSchema = z.object({
  /** redis-server binary; default: found on PATH. */
  binary: z.string().min(1).optional(),
  /** Number of numbered databases (redis `databases`). */
  databases: z.number().int().min(1).max(256).default(16),
  /** Seconds to wait for the server to answer PING after a start. */
  startTimeoutSeconds: z.number().min(1).max(600).default(30),
});
export type RedisOptions = z.infer<typeof RedisOptionsSchema>;

export interface RedisLayout {
  port: number;
  bindAddress: string;
  dataDir: string;
  aclFile: string;
  databases: number;
}

const OVERRIDE_KEY = /^[a-z][a-z0-9-]*$/;
/** Settings the manager owns: an override may not move the server out from under it. */
const RESERVED = new Set([
  'port',
  'bind',
  'dir',
  'aclfile',
  'requirepass',
  'daemonize',
  'logfile',
  'pidfile',
  'include',
]);

/** Checks one override: a redis setting name the manager does not own, and a single-line value. */
export function checkRedisOverride(key: string, value: unknown): string {
  if (!OVERRIDE_KEY.test(key) || RESERVED.has(key)) {
    throw new AgentError('BAD_REQUEST', `overrides.${key}: not a redis setting the agent lets you change`);
  }
  if (!['string', 'number', 'boolean'].includes(typeof value) || /[\r\n]/.test(String(value))) {
    throw new AgentError('BAD_REQUEST', `overrides.${key}: must be a single-line string, number or boolean`);
  }
  return typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value);
}

export function renderRedisConf(layout: RedisLayout, overrides: Record<string, unknown> = {}): string {
  const lines = [
    '# Written by corral-agent; changes are overwritten by prepare.',
    `bind ${layout.bindAddress}`,
    `port ${layout.port}`,
    // Every user needs a password (aclfile), so protected mode would only block legitimate remote clients.
    'protected-mode no',
    'daemonize no',
    'supervised no',
    'logfile ""',
    `dir ${layout.dataDir}`,
    'dbfilename dump.rdb',
    `databases ${layout.databases}`,
    `aclfile ${layout.aclFile}`,
  ];
  for (const [key, value] of Object.entries(overrides)) lines.push(`${key} ${checkRedisOverride(key, value)}`);
  return `${lines.join('\n')}\n`;
}

/** The ACL file's first line: the `default` user as the manager's admin, password stored as SHA-256 only. */
export function renderAclFile(adminPassword: string): string {
  const hash = createHash('sha256').update(adminPassword).digest('hex');
  return `user default on #${hash} ~* &* +@all\n`;
}
