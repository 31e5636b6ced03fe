import { createServer, Agent as HttpAgent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { ProviderUnavailableError } from '@corral/core/contract';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Transport } from './http.js';

/**
 * A server that behaves like nova-api under uwsgi `--http-socket`: after a 204 it closes the connection without
 * `Connection: close`. The client's keep-alive agent may already have sent its next request on that connection;
 * here that request is dropped unanswered (the socket is destroyed), which is what the client sees in the race.
 */
class ClosesAfter204 {
  readonly received: string[] = [];
  /** Requests that arrived on a connection already closed after a 204, and were dropped. */
  dropped = 0;
  private readonly closed = new WeakSet<Socket>();
  private server?: Server;
  private readonly agent = new HttpAgent({ keepAlive: true });

  constructor(private readonly answer: (request: IncomingMessage, response: ServerResponse) => void) {}

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      if (this.closed.has(request.socket)) {
        this.dropped++;
        request.socket.destroy();
        return;
      }
      this.received.push(`${request.method} ${request.url}`);
      if (request.method === 'DELETE') {
        this.closed.add(request.socket);
        response.writeHead(204).end();
        return;
      }
      request.resume();
      request.on('end', () => this.answer(request, response));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  transport(): Transport {
    return new Transport({ agent: this.agent, retry: { baseDelayMs: 1 } });
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const created = (_request: IncomingMessage, response: ServerResponse) => {
  response.writeHead(202, { 'content-type': 'application/json' }).end('{"server":{"id":"s-1"}}');
};

describe('Transport on a connection the server closed after a 204', () => {
  let server: ClosesAfter204;
  afterEach(() => server.stop());

  describe('with a server that answers POST', () => {
    let base: string;
    beforeEach(async () => {
      server = new ClosesAfter204(created);
      base = await server.start();
    });

    it('sends a POST made right after a DELETE once more, and it succeeds', async () => {
      const transport = server.transport();
      for (let round = 0; round < 3; round++) {
        await transport.request('compute', 'DELETE', `${base}/servers/old-${round}`);
        const response = await transport.request('compute', 'POST', `${base}/servers`, { json: { server: {} } });
        expect(response.status).toBe(202);
      }
      // The race was hit every round (the POST went out on the closed connection first)…
      expect(server.dropped).toBe(3);
      // …and the server acted on each POST exactly once.
      expect(server.received.filter((line) => line === 'POST /servers')).toHaveLength(3);
    });

    it('does not send a one-shot stream body again', async () => {
      const transport = server.transport();
      await transport.request('image', 'DELETE', `${base}/v2/images/old`);
      const upload = transport.request('image', 'POST', `${base}/v2/images`, { body: Readable.from(['data']) });
      await expect(upload).rejects.toBeInstanceOf(ProviderUnavailableError);
      expect(server.received).toEqual(['DELETE /v2/images/old']);
    });
  });

  it('sends it once more only: a failure on the fresh connection is thrown', async () => {
    // Every POST is dropped, on any connection: the second try fails on a new socket and is not sent again.
    server = new ClosesAfter204((request) => request.socket.destroy());
    const base = await server.start();
    const transport = server.transport();
    await transport.request('compute', 'DELETE', `${base}/servers/old`);
    const create = transport.request('compute', 'POST', `${base}/servers`, { json: { server: {} } });
    await expect(create).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(server.dropped).toBe(1);
    expect(server.received).toEqual(['DELETE /servers/old', 'POST /servers']);
  });
});
