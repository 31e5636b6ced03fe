import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { CorralError } from './errors/index.js';

/**
 * What the guests of an embedded control plane were told, kept in `stateDir/endpoints.json`: every seed names
 * the broker (and, with enrolment, the enrolment endpoint) as `<guestHostAddress>:<port>`. A restart on the
 * same state dir must listen there again, or every guest is stranded; so a port chosen by the system (port 0)
 * on the first start is the port of every later start.
 */
export const EndpointsRecordSchema = z.object({
  brokerPort: z.number().int().min(1).max(65_535),
  enrolmentPort: z.number().int().min(1).max(65_535).optional(),
  guestHostAddress: z.string().min(1),
});
export type EndpointsRecord = z.infer<typeof EndpointsRecordSchema>;

export const ENDPOINTS_FILE = 'endpoints.json';

export function endpointsPath(stateDir: string): string {
  return join(stateDir, ENDPOINTS_FILE);
}

/** The record, or undefined on a first start. A file that is there but unreadable is an error, not a fresh start. */
export async function readEndpoints(stateDir: string): Promise<EndpointsRecord | undefined> {
  const path = endpointsPath(stateDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: ReturnType<typeof EndpointsRecordSchema.safeParse> | undefined;
  try {
    parsed = EndpointsRecordSchema.safeParse(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) {
    throw new EndpointsRecordError(`${path} is not a valid endpoints record: fix it, or remove it if no guest runs`);
  }
  return parsed.data;
}

/** Written whole (temporary file, then rename), so a kill never leaves half a record. */
export async function writeEndpoints(stateDir: string, record: EndpointsRecord): Promise<void> {
  const path = endpointsPath(stateDir);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(EndpointsRecordSchema.parse(record), null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

/**
 * The port to listen on: an explicit port wins (the caller moves its guests' endpoint on purpose); otherwise
 * (undefined or 0) the recorded one; otherwise 0, for the system to choose on a first start.
 */
export function portToListenOn(requested: number | undefined, recorded: number | undefined): number {
  if (requested !== undefined && requested !== 0) return requested;
  return recorded ?? 0;
}

/** The state dir's endpoints record cannot be read. */
export class EndpointsRecordError extends CorralError {
  readonly code = 'ENDPOINTS_RECORD_INVALID';
}

/** Thrown when the port the guests know is taken by another process. */
export class EndpointPortInUseError extends CorralError {
  readonly code = 'ENDPOINT_PORT_IN_USE';
  constructor(what: string, port: number, stateDir: string) {
    super(
      `the ${what} port ${port} is in use by another process, but the guests of this control plane were told to ` +
        `reach it there (kept in ${endpointsPath(stateDir)}): stop whatever listens on 127.0.0.1:${port} and ` +
        'start again. Choosing another port would strand every running guest.',
    );
  }
}

/**
 * Listens on the recorded port; if another process holds it, that is an error when guests depend on it and a
 * fresh port otherwise (no live instance: nobody was told the old one).
 */
export async function listenOnKeptPort<T>(input: {
  what: string;
  stateDir: string;
  requested: number | undefined;
  recorded: number | undefined;
  guestsDependOnIt: () => Promise<boolean>;
  listen: (port: number) => Promise<T>;
  onFreshPort?: (port: number) => void;
}): Promise<T> {
  const port = portToListenOn(input.requested, input.recorded);
  try {
    return await input.listen(port);
  } catch (error) {
    const kept = port !== 0 && port === input.recorded && (input.requested ?? 0) === 0;
    if (!kept || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    if (await input.guestsDependOnIt()) throw new EndpointPortInUseError(input.what, port, input.stateDir);
    input.onFreshPort?.(port);
    return input.listen(0);
  }
}
