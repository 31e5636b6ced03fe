import { Agent, AgentError, createLogger, loadAgentConfig } from '@corral/agent';
import { CliError, ExitCode } from '../exit-codes.js';
import type { OutputOptions } from '../output.js';

/**
 * `corral agent`: the guest agent of @corral/agent, as its own `corral-agent` entry runs it (same config
 * sources: --config, a NoCloud/config-drive seed, CORRAL_AGENT_CONFIG, CORRAL_* variables). Runs until
 * SIGINT/SIGTERM. In a guest image the standalone bundle (dist/corral-agent.mjs) is the usual way.
 */
export async function runAgent(options: { config?: string; check: boolean }, output: OutputOptions): Promise<void> {
  let loaded: Awaited<ReturnType<typeof loadAgentConfig>>;
  try {
    loaded = await loadAgentConfig({
      ...(options.config !== undefined ? { configPath: options.config } : {}),
      env: process.env,
      probeDevices: process.env.CORRAL_SEED_PROBE !== '0',
    });
  } catch (error) {
    if (error instanceof AgentError && error.code === 'CONFIG_INVALID')
      throw new CliError(error.message, ExitCode.usage);
    throw error;
  }
  const { config, source } = loaded;
  if (options.check) {
    const result = { valid: true, source, guestId: config.guestId, manager: config.datastore.manager };
    process.stdout.write(output.json ? `${JSON.stringify(result)}\n` : `configuration from ${source} is valid\n`);
    return;
  }
  const logger = createLogger(config.logLevel, { guestId: config.guestId, instanceId: config.instanceId });
  const agent = new Agent({ config, logger });
  try {
    await agent.start();
  } catch (error) {
    if (error instanceof AgentError && (error.code === 'BROKER_UNREACHABLE' || error.code === 'ENROLMENT_FAILED'))
      throw new CliError(error.message, ExitCode.unavailable);
    throw error;
  }
  await new Promise<void>((done) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => done());
  });
  await agent.stop();
}
