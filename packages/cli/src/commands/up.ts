import { access, mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Provider, startEmbeddedControlPlane } from '@corral/core';
import pino from 'pino';
import * as z from 'zod';
import { removeDaemonInfo, writeDaemonInfo } from '../daemon-file.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { startApiServer } from '../http-api.js';
import type { OutputOptions } from '../output.js';

/**
 * `corral up`: the embedded control plane as a daemon (CA in <stateDir>/pki, aedes with mutual TLS on
 * 127.0.0.1, SQLite, all roles) with the libvirt provider, plus the JSON API on 127.0.0.1 that the `instance`
 * commands use. Its URL goes to <stateDir>/daemon.json. SIGINT/SIGTERM stop it cleanly.
 * `--provider fake` (for trying the CLI without VMs) uses core's FakeProvider and fake guests instead.
 */
export const UpOptionsSchema = z.object({
  stateDir: z.string().min(1),
  provider: z.enum(['libvirt', 'fake'], { error: 'must be "libvirt" or "fake"' }),
  imageDir: z.string().min(1),
  libvirtUri: z.string().min(1),
  apiPort: z.coerce.number().int().min(0, 'must be 0-65535').max(65_535, 'must be 0-65535'),
  brokerPort: z.coerce.number().int().min(0, 'must be 0-65535').max(65_535, 'must be 0-65535'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});
export type UpOptions = z.infer<typeof UpOptionsSchema>;

export const upDefaults = {
  imageDir: process.env.CORRAL_IMAGE_DIR ?? resolve('.cache', 'guest-image'),
  libvirtUri: process.env.LIBVIRT_DEFAULT_URI ?? 'qemu:///system',
};

async function libvirtProvider(options: UpOptions, logger: pino.Logger): Promise<Provider> {
  const { corralGuestImage, createLibvirtProvider } = await import('@corral/provider-libvirt');
  const image = corralGuestImage(options.imageDir);
  for (const file of [image.kernel, image.initrd]) {
    await access(file).catch(() => {
      throw new CliError(
        `--image-dir: ${file} is missing; build the guest image with \`bash scripts/guest-image/build.sh\``,
        ExitCode.usage,
      );
    });
  }
  const provider = createLibvirtProvider({
    uri: options.libvirtUri,
    images: [image],
    cdromBus: 'sata',
    logger: logger.child({ component: 'provider-libvirt' }),
  });
  // Fail now, not at the first create: a daemon whose provider cannot work is no use.
  try {
    await provider.listServers({ signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    await provider.close?.();
    throw new CliError(
      `libvirtd is not reachable at ${options.libvirtUri} (${error instanceof Error ? error.message : String(error)}); ` +
        'run `corral doctor` for the fix',
      ExitCode.unavailable,
    );
  }
  return provider;
}

export async function runUp(options: UpOptions, output: OutputOptions): Promise<void> {
  // Logs go to stderr: stdout carries the one result document.
  const logger = pino({ level: options.logLevel }, pino.destination(2));
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  let brokerUrl = '';
  let provider: Provider;
  let stopFleet = async () => {};
  if (options.provider === 'fake') {
    const { FakeGuestFleet, FakeProvider } = await import('@corral/core/testing');
    // Fake guests connect to the broker from this process; its URL is known once it started.
    const fleet = new FakeGuestFleet({
      get brokerUrl() {
        return brokerUrl;
      },
      heartbeatMs: 1_000,
      prepareMs: 200,
    });
    provider = fleet.wrap(new FakeProvider({ buildMs: 300 }));
    stopFleet = () => fleet.stopAll();
  } else {
    provider = await libvirtProvider(options, logger);
  }
  const embedded = await startEmbeddedControlPlane({
    stateDir: options.stateDir,
    providers: { [options.provider]: provider },
    brokerPort: options.brokerPort,
    logger,
    controlPlane: { heartbeat: { intervalSeconds: options.provider === 'fake' ? 1 : 5 } },
  }).catch(async (error: unknown) => {
    await provider.close?.();
    throw new CliError(
      `could not start the control plane: ${error instanceof Error ? error.message : String(error)}`,
      ExitCode.unavailable,
    );
  });
  brokerUrl = embedded.broker.url;
  const api = await startApiServer(embedded.controlPlane.instances, options.apiPort);
  await writeDaemonInfo(options.stateDir, { url: api.url, pid: process.pid, brokerUrl: embedded.broker.url });
  const ready = {
    ready: true,
    api: api.url,
    broker: embedded.broker.url,
    provider: options.provider,
    pid: process.pid,
  };
  process.stdout.write(
    output.json
      ? `${JSON.stringify(ready)}\n`
      : `corral up: API ${api.url}, broker ${embedded.broker.url} (Ctrl-C stops)\n`,
  );

  await new Promise<void>((done) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => done());
  });
  process.stderr.write('corral up: stopping\n');
  await removeDaemonInfo(options.stateDir);
  await api.close();
  // The control plane first: fake guests stopping before it would be reported as silent guests.
  await embedded.close();
  await stopFleet();
  await provider.close?.();
}
