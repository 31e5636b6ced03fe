import { readFileSync } from 'node:fs';
import { type AgentConfig, AgentConfigSchema, decodeAgentUserDataWith } from '@corral/core/contract';
import { AgentError } from '../errors.js';
import { envHasConfig, overlayEnv } from './env.js';
import { DEFAULT_SEED_DIRS, mountSeedDevice, readSeedUserData } from './seed.js';

type Env = Record<string, string | undefined>;

export interface LoadOptions {
  /** `--config`: an explicit file wins over a seed. */
  configPath?: string;
  env: Env;
  /** Look for a cidata/config-2 block device with blkid (the guest); off by default on hosts via CORRAL_SEED_PROBE=0. */
  probeDevices?: boolean;
}

export interface LoadedConfig {
  config: AgentConfig;
  /** Where the document came from (a path, or `environment`), for the startup log line. */
  source: string;
}

/**
 * The parser for a user-data body: the control plane writes JSON (which is YAML too), so the YAML parser is
 * loaded (about a megabyte of memory) only for user-data someone wrote as YAML.
 */
async function userDataBodyParser(text: string): Promise<(body: string) => unknown> {
  try {
    JSON.parse(text.slice(text.indexOf('\n') + 1));
    return JSON.parse;
  } catch {
    return (await import('yaml')).parse;
  }
}

/** Reads a config file: `#cloud-config` user-data, or a plain JSON document. */
async function parseDocument(text: string, source: string): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = text.trimStart().startsWith('#cloud-config')
      ? decodeAgentUserDataWith(text, await userDataBodyParser(text))
      : JSON.parse(text);
  } catch (error) {
    // The message of decodeAgentUserDataWith never quotes the text; JSON.parse's may, so it is not passed on.
    const reason = error instanceof Error && error.name === 'AgentUserDataError' ? error.message : 'not valid JSON';
    throw new AgentError('CONFIG_INVALID', `invalid agent configuration in ${source}: ${reason}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AgentError('CONFIG_INVALID', `invalid agent configuration in ${source}: must be an object`);
  }
  return value as Record<string, unknown>;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new AgentError(
      'CONFIG_INVALID',
      `${what}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

async function findSeedDocument(options: LoadOptions): Promise<{ text: string; source: string } | undefined> {
  const explicit = options.env.CORRAL_SEED_DIR;
  if (explicit !== undefined) {
    const seed = readSeedUserData(explicit);
    if (!seed) throw new AgentError('CONFIG_INVALID', `CORRAL_SEED_DIR: ${explicit} holds no user-data`);
    return { text: seed.text, source: seed.path };
  }
  for (const dir of DEFAULT_SEED_DIRS) {
    const seed = readSeedUserData(dir);
    if (seed) return { text: seed.text, source: seed.path };
  }
  if (options.probeDevices) {
    const mounted = await mountSeedDevice().catch(() => undefined);
    const seed = mounted === undefined ? undefined : readSeedUserData(mounted);
    if (seed) return { text: seed.text, source: seed.path };
  }
  return undefined;
}

/**
 * Loads the configuration: an explicit `--config` file, else a NoCloud/config-drive seed, else the file named by
 * CORRAL_AGENT_CONFIG, else nothing; CORRAL_* variables then override single fields. Validated with zod: an
 * error names the field and the rule, and never echoes a value.
 */
export async function loadAgentConfig(options: LoadOptions): Promise<LoadedConfig> {
  let document: Record<string, unknown> = {};
  let source = 'environment';
  const filePath = options.configPath ?? undefined;
  const seed = filePath === undefined ? await findSeedDocument(options) : undefined;
  if (filePath !== undefined) {
    document = await parseDocument(readText(filePath, '--config'), filePath);
    source = filePath;
  } else if (seed) {
    document = await parseDocument(seed.text, seed.source);
    source = seed.source;
  } else if (options.env.CORRAL_AGENT_CONFIG !== undefined) {
    const path = options.env.CORRAL_AGENT_CONFIG;
    document = await parseDocument(readText(path, 'CORRAL_AGENT_CONFIG'), path);
    source = path;
  } else if (!envHasConfig(options.env)) {
    throw new AgentError(
      'CONFIG_INVALID',
      'no agent configuration: no seed (cidata/config-2, CORRAL_SEED_DIR), no --config or CORRAL_AGENT_CONFIG file, no CORRAL_* variables',
    );
  }
  const merged = overlayEnv(document, options.env);
  const result = AgentConfigSchema.safeParse(merged);
  if (!result.success) {
    const issues = result.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
      .join('; ');
    throw new AgentError('CONFIG_INVALID', `invalid agent configuration (${source}): ${issues}`);
  }
  return { config: result.data, source };
}
