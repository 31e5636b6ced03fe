import { Command, CommanderError, Option } from 'commander';
import { runAgent } from './commands/agent.js';
import { listDatastores } from './commands/datastore.js';
import { defaultDoctorOptions, failedChecks, formatDoctor, runDoctor } from './commands/doctor.js';
import {
  type CreateFlags,
  createInstance,
  deleteInstance,
  listInstances,
  restartInstance,
  showInstance,
} from './commands/instance.js';
import { pkiInit } from './commands/pki.js';
import { runUp, UpOptionsSchema, upDefaults } from './commands/up.js';
import { defaultStateDir } from './daemon-file.js';
import { CliError, ExitCode } from './exit-codes.js';
import { type OutputOptions, printResult } from './output.js';

const globals = (command: Command): OutputOptions => ({ json: Boolean(command.optsWithGlobals().json) });
const stateDirOption = () =>
  new Option('--state-dir <dir>', "corral's state directory (env CORRAL_STATE_DIR)").default(defaultStateDir());

/** Builds the `corral` program. Commands register themselves here; `main` maps every failure to an exit code. */
export function buildProgram(): Command {
  const program = new Command('corral')
    .description('Run Trove-style control planes: real VMs, a guest agent over MQTT, datastores, true status.')
    .addOption(new Option('--json', 'print one JSON document on stdout (for scripts)').default(false))
    .showHelpAfterError()
    .exitOverride();

  program
    .command('doctor')
    .description('check this host for what corral needs, and print the fix for each missing piece')
    .option('--libvirt-socket <path>', "libvirtd's unix socket", defaultDoctorOptions.libvirtSocket)
    .option('--state-dir <dir>', "corral's state directory", defaultDoctorOptions.stateDir)
    .option('--broker <url>', 'also check that a broker accepts connections at this URL')
    .option('--crl <file>', "also check that mosquitto's CRL file is not about to expire")
    .action(
      async (options: { libvirtSocket: string; stateDir: string; broker?: string; crl?: string }, command: Command) => {
        const checks = await runDoctor({
          ...defaultDoctorOptions,
          libvirtSocket: options.libvirtSocket,
          stateDir: options.stateDir,
          brokerUrl: options.broker,
          crlFile: options.crl,
        });
        const failed = failedChecks(checks);
        printResult(command.optsWithGlobals(), { ok: failed.length === 0, checks }, () => formatDoctor(checks));
        if (failed.length > 0) throw new CliError('', ExitCode.failed);
      },
    );

  program
    .command('up')
    .description(
      'run the control plane daemon: embedded broker (mutual TLS), SQLite, libvirt provider, JSON API on 127.0.0.1',
    )
    .addOption(stateDirOption())
    .option(
      '--image-dir <dir>',
      'guest image (vmlinux, initrd.img) for libvirt (env CORRAL_IMAGE_DIR)',
      upDefaults.imageDir,
    )
    .option('--libvirt-uri <uri>', 'libvirt connection URI (env LIBVIRT_DEFAULT_URI)', upDefaults.libvirtUri)
    .option('--api-port <port>', 'port of the JSON API on 127.0.0.1 (0 = any free port)', '0')
    .option(
      '--broker-port <port>',
      'port of the MQTT broker on 127.0.0.1 (0 = the one kept in the state dir, else any free port)',
      '0',
    )
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (logs go to stderr)', 'warn')
    .addOption(
      new Option('--provider <name>', 'libvirt, or fake: fake servers and guests, for trying the CLI without VMs')
        .choices(['libvirt', 'fake'])
        .default('libvirt'),
    )
    .action(async (options: Record<string, unknown>, command: Command) => {
      const parsed = UpOptionsSchema.safeParse(options);
      if (!parsed.success) {
        const flag = (path: string) => `--${path.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
        throw new CliError(
          parsed.error.issues.map((issue) => `${flag(String(issue.path[0]))}: ${issue.message}`).join('; '),
          ExitCode.usage,
        );
      }
      await runUp(parsed.data, globals(command));
    });

  const instance = program
    .command('instance')
    .description('create, list, show, delete and restart instances (needs `corral up`)');
  instance
    .command('create')
    .description('create an instance; --wait follows it through BUILD to ACTIVE')
    .argument('<name>', 'instance name')
    .requiredOption('--flavor <flavor>', 'flavor name (libvirt: corral.small; fake: small)')
    .option('--datastore <type[:version]>', 'datastore and optional version, e.g. redis or redis:7', 'redis')
    .option('--provider <name>', 'provider (default: the only one)')
    .option('--volume-size <GB>', 'data volume size in GB')
    .option('--wait', 'wait until ACTIVE (or ERROR), with progress on stderr', false)
    .option('--timeout <seconds>', 'how long --wait waits', '900')
    .addOption(stateDirOption())
    .action(async (name: string, options: CreateFlags & { stateDir: string }, command: Command) => {
      await createInstance(options.stateDir, name, options, globals(command));
    });
  instance
    .command('list')
    .description('list instances')
    .addOption(stateDirOption())
    .action(async (options: { stateDir: string }, command: Command) =>
      listInstances(options.stateDir, globals(command)),
    );
  for (const [name, description, run] of [
    ['show', 'show one instance', showInstance],
    ['delete', 'delete an instance (its server, certificate and records)', deleteInstance],
    ['restart', 'restart the datastore of an instance', restartInstance],
  ] as const) {
    instance
      .command(name)
      .description(description)
      .argument('<id>', 'instance id')
      .addOption(stateDirOption())
      .action(async (id: string, options: { stateDir: string }, command: Command) =>
        run(options.stateDir, id, globals(command)),
      );
  }

  program
    .command('datastore')
    .description('the datastore catalog')
    .command('list')
    .description('list the datastores and versions corral ships managers for (local; no daemon)')
    .action(async (_options: unknown, command: Command) => listDatastores(globals(command)));

  program
    .command('pki')
    .description('the certificate authority')
    .command('init')
    .description('create the CA in <dir>/pki once (idempotent); prints its path and fingerprint, never the key')
    .addOption(stateDirOption())
    .option('--dir <dir>', 'CA directory (default <state-dir>/pki)')
    .action(async (options: { stateDir: string; dir?: string }, command: Command) =>
      pkiInit(options.dir ?? `${options.stateDir}/pki`, globals(command)),
    );

  program
    .command('agent')
    .description('run the guest agent (as corral-agent does): reads --config, a seed, or CORRAL_* variables')
    .option('--config <file>', 'agent configuration: #cloud-config user-data or JSON')
    .option('--check', 'validate the configuration and exit', false)
    .action(async (options: { config?: string; check: boolean }, command: Command) =>
      runAgent(options, globals(command)),
    );

  return program;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not failures; everything else commander rejects is bad input.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (error instanceof CliError) {
      if (error.message) process.stderr.write(`corral: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`corral: ${error instanceof Error ? error.message : String(error)}\n`);
    return ExitCode.failed;
  }
}
