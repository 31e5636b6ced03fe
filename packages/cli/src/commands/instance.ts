import { CreateInstanceRequestSchema, type InstanceView, ValidationError } from '@corral/core';
import * as z from 'zod';
import { callDaemon } from '../daemon-file.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { formatTable, type OutputOptions, printResult, startProgress } from '../output.js';

/** `corral instance create|list|show|delete|restart`: the daemon's API, as commands. */

const IdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be letters, digits, "_" or "-"');

export function parseInstanceId(value: string): string {
  const parsed = IdSchema.safeParse(value);
  if (!parsed.success)
    throw new CliError(`<id>: ${JSON.stringify(value)} ${parsed.error.issues[0]?.message}`, ExitCode.usage);
  return parsed.data;
}

export interface CreateFlags {
  flavor: string;
  datastore: string;
  provider?: string;
  volumeSize?: string;
  wait: boolean;
  timeout: string;
}

/** Turns flags into core's CreateInstanceRequest, validated by core's schema (errors name the flag). */
export function createRequest(name: string, flags: CreateFlags) {
  const [type, version] = flags.datastore.split(':');
  const volume = flags.volumeSize === undefined ? undefined : Number(flags.volumeSize);
  const parsed = CreateInstanceRequestSchema.safeParse({
    name,
    flavor: flags.flavor,
    datastore: { type, ...(version ? { version } : {}) },
    ...(flags.provider ? { provider: flags.provider } : {}),
    ...(volume === undefined ? {} : { volumeSizeGb: volume }),
  });
  if (!parsed.success) {
    const flag: Record<string, string> = {
      name: '<name>',
      flavor: '--flavor',
      datastore: '--datastore',
      'datastore.type': '--datastore',
      'datastore.version': '--datastore',
      volumeSizeGb: '--volume-size',
      provider: '--provider',
    };
    const problems = ValidationError.fromZod('instance', parsed.error).issues.map(
      (issue) => `${flag[issue.path] ?? issue.path}: ${issue.message}`,
    );
    throw new CliError(problems.join('; '), ExitCode.usage);
  }
  return parsed.data;
}

function describe(view: InstanceView): string {
  const fault = view.fault ? ` fault: ${view.fault.message}` : '';
  return `${view.status} (task ${view.taskStatus}, server ${view.serverStatus ?? '-'}, service ${view.serviceStatus})${fault}`;
}

export function formatInstance(view: InstanceView): string {
  return [
    `id:        ${view.id}`,
    `name:      ${view.name}`,
    `status:    ${describe(view)}`,
    `datastore: ${view.datastore.type} ${view.datastore.version}`,
    `provider:  ${view.provider} (flavor ${view.flavor}, server ${view.serverId ?? '-'})`,
  ].join('\n');
}

export async function createInstance(stateDir: string, name: string, flags: CreateFlags, output: OutputOptions) {
  const request = createRequest(name, flags);
  const timeoutSeconds = Number(flags.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)
    throw new CliError(
      `--timeout: must be a positive number of seconds, got ${JSON.stringify(flags.timeout)}`,
      ExitCode.usage,
    );
  let view = (await callDaemon(stateDir, 'POST', '/instances', request)) as InstanceView;
  if (flags.wait) {
    const started = Date.now();
    const progress = startProgress(output, `${view.name}: ${describe(view)}`);
    // Poll the daemon (0.5 s): the API is plain JSON; the SSE example shows pushing events instead.
    while (view.status !== 'ACTIVE' && view.status !== 'ERROR') {
      if (Date.now() - started > timeoutSeconds * 1000) {
        progress.fail(`${view.name}: still ${view.status} after ${timeoutSeconds} s`);
        throw new CliError(`instance ${view.id} did not become ACTIVE within ${timeoutSeconds} s`, ExitCode.failed);
      }
      await new Promise((done) => setTimeout(done, 500));
      view = (await callDaemon(stateDir, 'GET', `/instances/${view.id}`)) as InstanceView;
      progress.update(`${view.name}: ${describe(view)} · ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (view.status === 'ERROR') progress.fail(`${view.name}: ERROR after ${seconds} s`);
    else progress.done(`${view.name}: ACTIVE after ${seconds} s`);
  }
  printResult(output, view, () => formatInstance(view));
  if (view.status === 'ERROR') throw new CliError(`instance ${view.id} ended in ERROR`, ExitCode.failed);
}

export async function listInstances(stateDir: string, output: OutputOptions) {
  const page = (await callDaemon(stateDir, 'GET', '/instances')) as { items: InstanceView[] };
  printResult(output, page, () =>
    formatTable(
      ['ID', 'NAME', 'STATUS', 'DATASTORE', 'PROVIDER'],
      page.items.map((v) => [v.id, v.name, v.status, `${v.datastore.type} ${v.datastore.version}`, v.provider]),
    ),
  );
}

export async function showInstance(stateDir: string, id: string, output: OutputOptions) {
  const view = (await callDaemon(stateDir, 'GET', `/instances/${parseInstanceId(id)}`)) as InstanceView;
  printResult(output, view, () => formatInstance(view));
}

export async function deleteInstance(stateDir: string, id: string, output: OutputOptions) {
  const view = (await callDaemon(stateDir, 'DELETE', `/instances/${parseInstanceId(id)}`)) as InstanceView;
  printResult(output, view, () => `deleting ${view.id}: ${describe(view)}`);
}

export async function restartInstance(stateDir: string, id: string, output: OutputOptions) {
  const view = (await callDaemon(stateDir, 'POST', `/instances/${parseInstanceId(id)}/restart`)) as InstanceView;
  printResult(output, view, () => `restarting ${view.id}: ${describe(view)}`);
}
