/**
 * examples/control-plane-http.ts with --fake, as a user runs it (a real process, real HTTP, the embedded
 * aedes broker with mutual TLS, SQLite; fake servers whose fake guests speak the real protocol). No VMs and
 * no setup script: a free port on 127.0.0.1 and a temporary state dir, both gone afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..');

interface StatusEvent {
  instanceId: string;
  status: string;
}

/** Reads `event: status` messages off an SSE response body. */
async function* sse(body: ReadableStream<Uint8Array>): AsyncGenerator<StatusEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = message.split('\n').find((line) => line.startsWith('data: '));
      if (message.includes('event: status') && data) yield JSON.parse(data.slice(6)) as StatusEvent;
      end = buffer.indexOf('\n\n');
    }
  }
}

describe('examples/control-plane-http.ts --fake', () => {
  let child: ChildProcess | undefined;
  let dir: string;
  let url: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corral-http-example-'));
    child = spawn(
      process.execPath,
      ['--import', 'tsx', 'examples/control-plane-http.ts', '--fake', '--port', '0', '--state-dir', dir],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    url = await new Promise<string>((resolveUrl, reject) => {
      let out = '';
      child?.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (match?.[1]) resolveUrl(match[1]);
      });
      child?.once('exit', (code) => reject(new Error(`example exited ${code}: ${stderr}`)));
      setTimeout(() => reject(new Error(`example not listening after 30 s: ${stderr}`)), 30_000);
    });
  }, 40_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((done) => child?.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('creates an instance, streams its statuses to ACTIVE, lists, shows and deletes it', async () => {
    const events = new AbortController();
    const stream = await fetch(`${url}/events`, { signal: events.signal });
    expect(stream.headers.get('content-type')).toBe('text/event-stream');

    const created = await fetch(`${url}/instances`, {
      method: 'POST',
      body: JSON.stringify({ name: 'http-redis', flavor: 'small', datastore: { type: 'redis' } }),
    });
    expect(created.status).toBe(202);
    const view = (await created.json()) as { id: string; status: string };
    expect(view.status).toBe('BUILD');

    const seen: string[] = [];
    const deadline = setTimeout(() => events.abort(), 20_000);
    try {
      for await (const event of sse(stream.body as ReadableStream<Uint8Array>)) {
        if (event.instanceId !== view.id) continue;
        seen.push(event.status);
        if (event.status === 'ACTIVE' || event.status === 'ERROR') break;
      }
    } catch {}
    clearTimeout(deadline);
    events.abort();
    expect(seen[0]).toBe('BUILD');
    expect(seen.at(-1)).toBe('ACTIVE');

    const list = (await (await fetch(`${url}/instances`)).json()) as { items: { id: string }[] };
    expect(list.items.map((item) => item.id)).toContain(view.id);
    const shown = (await (await fetch(`${url}/instances/${view.id}`)).json()) as { status: string };
    expect(shown.status).toBe('ACTIVE');

    expect((await fetch(`${url}/instances/${view.id}`, { method: 'DELETE' })).status).toBe(202);
    let status = 0;
    for (let i = 0; i < 40 && status !== 404; i++) {
      status = (await fetch(`${url}/instances/${view.id}`)).status;
      if (status !== 404) await new Promise((done) => setTimeout(done, 250));
    }
    expect(status).toBe(404);
  });

  it('answers bad input with 400 naming the field', async () => {
    const response = await fetch(`${url}/instances`, {
      method: 'POST',
      body: JSON.stringify({ name: 'bad name!', flavor: 'small', datastore: { type: 'redis' } }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/name/);
  });
});
