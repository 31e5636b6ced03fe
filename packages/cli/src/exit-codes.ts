/** Exit codes scripts can rely on. */
export const ExitCode = {
  ok: 0,
  /** The command ran and what it checked or asked for failed (an instance ended in ERROR, doctor found problems). */
  failed: 1,
  /** Bad input: unknown command, missing or invalid argument. */
  usage: 2,
  /** The daemon (`corral up`) or a service it needs could not be reached. */
  unavailable: 3,
  /** The thing named does not exist. */
  notFound: 4,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one clear line and an exit code, without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
