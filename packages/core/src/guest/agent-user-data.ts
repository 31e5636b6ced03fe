import { parse as parseYaml } from 'yaml';
import { decodeAgentUserDataWith } from './agent-config.js';

/**
 * Reads the `corral:` key out of cloud-init user-data (JSON or block YAML after the header). Returns the
 * raw value; validate it with `AgentConfigSchema`. Errors never quote the text (it carries secrets).
 */
export function decodeAgentUserData(text: string): unknown {
  return decodeAgentUserDataWith(text, parseYaml);
}
