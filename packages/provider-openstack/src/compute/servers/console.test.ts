import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BadRequestError, ConflictError, NotFoundError } from '@corral/core/contract';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServiceClient, Transport } from '../../common/http.js';
import { getConsoleOutput } from './requests.js';

interface Seen {
  method: string;
  url: string;
  body: unknown;
}

/** A Nova that answers the action endpoint with the given replies, in order, and records what it got. */
let server: Server;
let seen: Seen[];
let replies: Array<{ status: number; body: unknown }>;

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

beforeEach(async () => {
  seen = [];
  replies = [];
  server = createServer((request, response) => {
    void readBody(request).then((body) => {
      seen.push({ method: request.method ?? '', url: request.url ?? '', body });
      const reply = replies.shift() ?? { status: 500, body: { computeFault: { code: 500, message: 'no reply' } } };
      response.writeHead(reply.status, { 'content-type': 'application/json', 'x-compute-request-id': 'req-1' });
      response.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function nova(): ServiceClient {
  const { port } = server.address() as AddressInfo;
  const transport = new Transport({
    tokens: { token: async () => 'token', invalidate: () => undefined, renewable: false },
    retry: { baseDelayMs: 1 },
  });
  return new ServiceClient(transport, 'compute', `http://127.0.0.1:${port}/v2.1`);
}

describe('getConsoleOutput', () => {
  it('posts os-getConsoleOutput to the server action and returns the text', async () => {
    replies.push({ status: 200, body: { output: 'corral-guest: booted in 812 ms\n' } });
    const output = await getConsoleOutput(nova(), 'abc');
    expect(output).toBe('corral-guest: booted in 812 ms\n');
    expect(seen).toEqual([{ method: 'POST', url: '/v2.1/servers/abc/action', body: { 'os-getConsoleOutput': {} } }]);
  });

  it('asks for the last N lines only when told', async () => {
    replies.push({ status: 200, body: { output: 'last\n' } });
    await getConsoleOutput(nova(), 'abc', { length: 20 });
    expect(seen[0]?.body).toEqual({ 'os-getConsoleOutput': { length: 20 } });
  });

  it('refuses a length that is not a positive integer before sending anything', async () => {
    await expect(getConsoleOutput(nova(), 'abc', { length: 0 })).rejects.toThrow(BadRequestError);
    await expect(getConsoleOutput(nova(), 'abc', { length: 1.5 })).rejects.toThrow(
      /length: must be a positive integer/,
    );
    expect(seen).toEqual([]);
  });

  it('asks again after a 503, since reading the console changes nothing', async () => {
    replies.push({ status: 503, body: { computeFault: { code: 503, message: 'busy' } } });
    replies.push({ status: 200, body: { output: 'ok\n' } });
    await expect(getConsoleOutput(nova(), 'abc')).resolves.toBe('ok\n');
    expect(seen).toHaveLength(2);
  });

  it("maps Nova's 404 and 409 (no console log yet) to typed errors", async () => {
    replies.push({ status: 404, body: { itemNotFound: { code: 404, message: 'Instance abc could not be found.' } } });
    await expect(getConsoleOutput(nova(), 'abc')).rejects.toThrow(NotFoundError);
    replies.push({
      status: 409,
      body: { conflictingRequest: { code: 409, message: 'Guest does not have a console available.' } },
    });
    await expect(getConsoleOutput(nova(), 'abc')).rejects.toThrow(ConflictError);
  });

  it('rejects an answer without output', async () => {
    replies.push({ status: 200, body: { console: 'x' } });
    await expect(getConsoleOutput(nova(), 'abc')).rejects.toThrow();
  });
});
