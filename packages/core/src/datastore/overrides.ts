import { ValidationError, type ValidationIssue } from '../errors/index.js';
import type { ConfigurationOverrides } from '../instance/models.js';
import type { ParameterRule } from './models.js';

export interface ValidatedOverrides {
  /** The values, converted to each parameter's type (`"128"` → 128 for an int). */
  values: ConfigurationOverrides;
  /** Parameters among them whose change needs a datastore restart. */
  restartRequired: string[];
}

type Value = string | number | boolean;

/**
 * Checks a user's configuration overrides against a version's parameter rules. Strings that spell a value
 * of the parameter's type are accepted (a CLI hands everything over as text). Every broken rule is reported,
 * each naming the parameter and the rule, in one ValidationError. Paths start with `field`, the name the
 * caller's user gave the overrides (the instance API's `configuration`).
 */
export function validateOverrides(
  rules: readonly ParameterRule[],
  overrides: Record<string, unknown>,
  field = 'configuration',
): ValidatedOverrides {
  const byName = new Map(rules.map((rule) => [rule.name, rule]));
  const issues: ValidationIssue[] = [];
  const values: ConfigurationOverrides = {};
  const restartRequired: string[] = [];
  for (const [name, raw] of Object.entries(overrides)) {
    const path = `${field}.${name}`;
    const rule = byName.get(name);
    if (!rule) {
      issues.push({ path, message: 'is not a configurable parameter of this datastore version' });
      continue;
    }
    const result = check(rule, raw);
    if (typeof result === 'string') {
      issues.push({ path, message: result });
      continue;
    }
    values[name] = result.value;
    if (rule.restartRequired) restartRequired.push(name);
  }
  if (issues.length > 0) {
    throw new ValidationError(
      `invalid configuration overrides: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return { values, restartRequired };
}

/** The converted value, or the broken rule in words. */
function check(rule: ParameterRule, raw: unknown): { value: Value } | string {
  const value = convert(rule, raw);
  if (value === undefined) return `must be ${article(rule.type)} (got ${describe(raw)})`;
  if (typeof value === 'number') {
    if (rule.min !== undefined && value < rule.min) return `must be at least ${rule.min} (got ${value})`;
    if (rule.max !== undefined && value > rule.max) return `must be at most ${rule.max} (got ${value})`;
  }
  if (rule.allowed && typeof value !== 'boolean' && !rule.allowed.includes(value)) {
    return `must be one of ${rule.allowed.map((v) => JSON.stringify(v)).join(', ')} (got ${JSON.stringify(value)})`;
  }
  return { value };
}

function convert(rule: ParameterRule, raw: unknown): Value | undefined {
  switch (rule.type) {
    case 'int': {
      const n = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
      return typeof n === 'number' && Number.isSafeInteger(n) ? n : undefined;
    }
    case 'float': {
      const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : raw;
      return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
    }
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === 'yes' || raw === 'on') return true;
      if (raw === 'false' || raw === 'no' || raw === 'off') return false;
      return undefined;
    case 'string':
      return typeof raw === 'string' && raw.length <= 4096 && !/[\r\n\0]/.test(raw) ? raw : undefined;
  }
}

function article(type: ParameterRule['type']): string {
  return { int: 'an integer', float: 'a number', boolean: 'a boolean', string: 'a single-line string' }[type];
}

function describe(raw: unknown): string {
  if (typeof raw === 'string') return JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}…` : raw);
  if (raw === null) return 'null';
  if (Array.isArray(raw)) return 'an array';
  return typeof raw === 'object' ? 'an object' : String(raw);
}
