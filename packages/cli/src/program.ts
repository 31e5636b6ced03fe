import { Command, CommanderError, Option } from 'commander';
import { defaultDoctorOptions, failedChecks, formatDoctor, runDoctor } from './commands/doctor.js';
import { CliError, ExitCode } from './exit-codes.js';
import { printResult } from './output.js';

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
    .action(async (options: { libvirtSocket: string; stateDir: string; broker?: string }, command: Command) => {
      const checks = await runDoctor({
        ...defaultDoctorOptions,
        libvirtSocket: options.libvirtSocket,
        stateDir: options.stateDir,
        brokerUrl: options.broker,
      });
      const failed = failedChecks(checks);
      printResult(command.optsWithGlobals(), { ok: failed.length === 0, checks }, () => formatDoctor(checks));
      if (failed.length > 0) throw new CliError('', ExitCode.failed);
    });

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
