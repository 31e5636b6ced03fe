import type * as z from 'zod';
import { describeIssues } from '../provider/validate.js';

/**
 * Errors of core itself (not of a provider). Like Fastify's, each has a class and a stable `code` a caller
 * can branch on; the message is for people and may be reworded.
 */
export abstract class CorralError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message };
  }
}

export interface ValidationIssue {
  /** Dotted path of the field, `(root)` for the value itself. */
  path: string;
  /** The rule broken, in words. */
  message: string;
}

/** Input broke a schema or a rule. `issues` names each field and rule; so does the message. */
export class ValidationError extends CorralError {
  readonly code = 'VALIDATION_FAILED';
  readonly issues: ValidationIssue[];

  constructor(message: string, issues: ValidationIssue[], options?: { cause?: unknown }) {
    super(message, options);
    this.issues = issues;
  }

  static fromZod(what: string, error: z.ZodError): ValidationError {
    const issues = error.issues.map((issue) => ({
      path: issue.path.length > 0 ? issue.path.join('.') : '(root)',
      message: issue.message,
    }));
    return new ValidationError(`invalid ${what}: ${describeIssues(error)}`, issues, { cause: error });
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), issues: this.issues };
  }
}

/**
 * Parses `input` with `schema`, throwing a ValidationError that names every broken field and rule.
 * `what` names the thing parsed ("instance", "heartbeat") so the message reads on its own.
 */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw ValidationError.fromZod(what, result.error);
  return result.data;
}

export function isCorralError(error: unknown): error is CorralError {
  return error instanceof CorralError;
}
