#!/usr/bin/env node
import { Agent } from './agent.js';
import { loadAgentConfig } from './config/load.js';
import { AgentError } from './errors.js';
import { createLogger } from './log.js';
import { processStartUptimeMs, Timeline, uptimeMs } from './timeline.js';
import { VERSION } from './version.js';

// Every module of the bundle has been evaluated by now.
const bundleLoadedAt = uptimeMs();

const HELP = `corral-agent ${VERSION}: the corral guest agent

Usage: corral-agent [--config FILE] [--check]

Configuration, first found: --config FILE; a NoCloud/config-drive seed (CORRAL_SEED_DIR, /run/corral/seed,
/run/corral/config-drive, or a block device labelled cidata/config-2, mounted read-only); CORRAL_AGENT_CONFIG=FILE.
CORRAL_* variables (CORRAL_GUEST_ID, CORRAL_BROKER_URL, CORRAL_BROKER_CA_FILE, CORRAL_DATASTORE_MANAGER, ...)
override single fields. A file is #cloud-config user-data with a top-level "corral:" key, or plain JSON.

  --config FILE   read the configuration from FILE
  --check         validate the configuration and exit (0 = valid)
  --help          this text
  --version       the version

Exit codes: 0 stopped by a signal; 2 bad configuration; 3 broker unreachable or enrolment failed; 1 other errors.
`;

function parseArgs(argv: string[]): { configPath?: string; check: boolean; help: boolean; version: boolean } {
  const parsed: { configPath?: string; check: boolean; help: boolean; version: boolean } = {
    check: false,
    help: false,
    version: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') parsed.help = true;
    else if (arg === '--version') parsed.version = true;
    else if (arg === '--check') parsed.check = true;
    else if (arg === '--config') {
      const value = argv[++i];
      if (value === undefined) throw new AgentError('CONFIG_INVALID', '--config: needs a file path');
      parsed.configPath = value;
    } else if (arg.startsWith('--config=')) parsed.configPath = arg.slice('--config='.length);
    else throw new AgentError('CONFIG_INVALID', `unknown argument ${JSON.stringify(arg)} (see --help)`);
  }
  return parsed;
}

function exitCode(error: unknown): number {
  if (!(error instanceof AgentError)) return 1;
  if (error.code === 'CONFIG_INVALID') return 2;
  if (error.code === 'BROKER_UNREACHABLE' || error.code === 'ENROLMENT_FAILED') return 3;
  return 1;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const { config, source } = await loadAgentConfig({
    ...(args.configPath !== undefined ? { configPath: args.configPath } : {}),
    env: process.env,
    probeDevices: process.env.CORRAL_SEED_PROBE !== '0',
  });
  if (args.check) {
    process.stdout.write(`configuration from ${source} is valid\n`);
    return 0;
  }
  const logger = createLogger(config.logLevel, { guestId: config.guestId, instanceId: config.instanceId });
  const timeline = new Timeline(logger);
  timeline.mark('agent process started', processStartUptimeMs());
  timeline.mark('bundle loaded', bundleLoadedAt);
  timeline.mark('config read');
  const agent = new Agent({ config, logger, timeline });
  logger.info(
    { source, manager: config.datastore.manager, broker: config.broker.url, bootId: agent.bootId, version: VERSION },
    'corral-agent starting',
  );
  const stopped = new Promise<number>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        logger.info({ signal }, 'stopping');
        agent.stop().then(
          () => resolve(0),
          () => resolve(1),
        );
      });
    }
  });
  await agent.start();
  logger.info('corral-agent running');
  return stopped;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`corral-agent: ${message}\n`);
    process.exit(exitCode(error));
  },
);
