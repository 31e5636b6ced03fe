import { readFileSync } from 'node:fs';
import { AgentError } from '../errors.js';

type Env = Record<string, string | undefined>;
type Json = Record<string, unknown>;

/** CORRAL_* variable → config path. Numbers are converted when they look like numbers, so zod names the field otherwise. */
const SCALARS: ReadonlyArray<[string, string[], 'string' | 'number']> = [
  ['CORRAL_GUEST_ID', ['guestId'], 'string'],
  ['CORRAL_INSTANCE_ID', ['instanceId'], 'string'],
  ['CORRAL_BROKER_URL', ['broker', 'url'], 'string'],
  ['CORRAL_ENROLMENT_TOKEN', ['broker', 'enrolment', 'token'], 'string'],
  ['CORRAL_HEARTBEAT_INTERVAL_SECONDS', ['heartbeatIntervalSeconds'], 'number'],
  ['CORRAL_DATASTORE_MANAGER', ['datastore', 'manager'], 'string'],
  ['CORRAL_DATASTORE_VERSION', ['datastore', 'version'], 'string'],
  ['CORRAL_DATASTORE_PORT', ['datastore', 'port'], 'number'],
  ['CORRAL_DATASTORE_BIND_ADDRESS', ['datastore', 'bindAddress'], 'string'],
  ['CORRAL_STATE_DIR', ['stateDir'], 'string'],
  ['CORRAL_LOG_LEVEL', ['logLevel'], 'string'],
];

/** PEMs come inline (`_PEM`) or from a file (`_FILE`). */
const PEMS: ReadonlyArray<[string, string[]]> = [
  ['CORRAL_BROKER_CA', ['broker', 'caPem']],
  ['CORRAL_BROKER_CERT', ['broker', 'certPem']],
  ['CORRAL_BROKER_KEY', ['broker', 'keyPem']],
];

function setPath(target: Json, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Json;
  }
  node[path[path.length - 1] as string] = value;
}

/** True when any CORRAL_* configuration variable is set (so the environment alone can configure the agent). */
export function envHasConfig(env: Env): boolean {
  return (
    SCALARS.some(([name]) => env[name] !== undefined) ||
    PEMS.some(([prefix]) => env[`${prefix}_PEM`] !== undefined || env[`${prefix}_FILE`] !== undefined) ||
    env.CORRAL_MANAGERS !== undefined
  );
}

/** Overlays CORRAL_* variables onto a config document (a copy); each set variable wins over the document. */
export function overlayEnv(document: Json, env: Env): Json {
  const result = structuredClone(document);
  for (const [name, path, kind] of SCALARS) {
    const raw = env[name];
    if (raw === undefined) continue;
    const asNumber = Number(raw);
    setPath(result, path, kind === 'number' && raw.trim() !== '' && Number.isFinite(asNumber) ? asNumber : raw);
  }
  for (const [prefix, path] of PEMS) {
    const inline = env[`${prefix}_PEM`];
    const file = env[`${prefix}_FILE`];
    if (inline !== undefined) setPath(result, path, inline);
    else if (file !== undefined) {
      try {
        setPath(result, path, readFileSync(file, 'utf8'));
      } catch (error) {
        throw new AgentError('CONFIG_INVALID', `${prefix}_FILE: cannot read ${file} (${(error as Error).message})`);
      }
    }
  }
  if (env.CORRAL_MANAGERS !== undefined) {
    const managers: Record<string, string> = {};
    for (const entry of env.CORRAL_MANAGERS.split(',').filter((e) => e.trim() !== '')) {
      const [name, modulePath] = entry.split('=', 2).map((part) => part.trim());
      if (!name || !modulePath) {
        throw new AgentError('CONFIG_INVALID', 'CORRAL_MANAGERS: must be name=module-path[,name=module-path...]');
      }
      managers[name] = modulePath;
    }
    setPath(result, ['managers'], managers);
  }
  return result;
}
