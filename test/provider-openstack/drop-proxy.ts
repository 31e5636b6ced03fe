import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback HTTP proxy in front of one service that forwards everything, but for requests matching `drop`
 * it waits for the upstream answer and then cuts the client's connection: the request took effect, the
 * caller never learns it. That is the ambiguous failure idempotency keys exist for.
 */
export async function startDropProxy(upstream: string, drop: (method: string, path: string) => boolean) {
  const target = new URL(upstream);
  let dropped = 0;
  const server: Server = createServer((req, res) => {
    const shouldDrop = drop(req.method ?? 'GET', req.url ?? '/');
    const forward = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (upstreamResponse) => {
        if (shouldDrop) {
          upstreamResponse.resume();
          upstreamResponse.on('end', () => {
            dropped++;
            req.socket.destroy();
          });
          return;
        }
        res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
