/**
 * Child process of the fleet benchmark: core's embedded broker (aedes behind node:tls with client
 * certificates) alone in its process, so its memory is the broker's and not the simulated agents'.
 */

import { startBroker } from '@corral/core';
import { RevocationList } from '@corral/core/pki';
import { childConfig, serve } from './ipc.js';

const config = childConfig<{ ca: string; cert: string; key: string; port: number }>();
const broker = await startBroker({
  tls: { ca: config.ca, cert: config.cert, key: config.key },
  revocations: new RevocationList(),
  port: config.port,
});

serve(
  {
    memory() {
      globalThis.gc?.();
      const { heapUsed, rss } = process.memoryUsage();
      return { heapUsed, rss, clients: broker.aedes.connectedClients };
    },
  },
  { port: broker.port, url: broker.url },
);
