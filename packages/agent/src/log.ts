import { destination, type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured logs on stderr (stdout stays free for `--help` and the guest console). Secret-bearing fields
 * are redacted by path as a second line of defence: the code never passes keys, passwords or tokens to the
 * logger in the first place.
 */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { component: 'corral-agent', ...base },
      redact: {
        paths: ['*.keyPem', '*.password', '*.token', '*.rootPassword', 'password', 'token', 'keyPem', '*.*.password'],
        censor: '[redacted]',
      },
    },
    destination({ fd: 2, sync: true }),
  );
}
