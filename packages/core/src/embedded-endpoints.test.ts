import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EndpointPortInUseError,
  EndpointsRecordError,
  endpointsPath,
  listenOnKeptPort,
  portToListenOn,
  readEndpoints,
  writeEndpoints,
} from './embedded-endpoints.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corral-endpoints-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const inUse = () => Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' });

describe('endpoints record', () => {
  it('is absent on a first start and reads back what was written', async () => {
    expect(await readEndpoints(dir)).toBeUndefined();
    await writeEndpoints(dir, { brokerPort: 41_883, guestHostAddress: '10.0.2.2' });
    expect(await readEndpoints(dir)).toEqual({ brokerPort: 41_883, guestHostAddress: '10.0.2.2' });
  });

  it('refuses a damaged record rather than starting on a new port', async () => {
    await writeFile(endpointsPath(dir), '{"brokerPort": "x"');
    await expect(readEndpoints(dir)).rejects.toThrow(EndpointsRecordError);
    await writeFile(endpointsPath(dir), '{"brokerPort": 0, "guestHostAddress": "10.0.2.2"}');
    await expect(readEndpoints(dir)).rejects.toThrow(EndpointsRecordError);
  });
});

describe('the port to listen on', () => {
  it('is an explicit port, else the kept one, else any', () => {
    expect(portToListenOn(5000, 6000)).toBe(5000);
    expect(portToListenOn(0, 6000)).toBe(6000);
    expect(portToListenOn(undefined, 6000)).toBe(6000);
    expect(portToListenOn(undefined, undefined)).toBe(0);
  });

  const attempt = (guests: boolean, tried: number[]) =>
    listenOnKeptPort({
      what: 'broker',
      stateDir: dir,
      requested: 0,
      recorded: 6000,
      guestsDependOnIt: async () => guests,
      listen: async (port) => {
        tried.push(port);
        if (port === 6000) throw inUse();
        return port;
      },
    });

  it('taken while guests depend on it: a clear error naming the port and the record', async () => {
    const tried: number[] = [];
    const error = await attempt(true, tried).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EndpointPortInUseError);
    expect((error as Error).message).toContain('port 6000 is in use');
    expect((error as Error).message).toContain(endpointsPath(dir));
    expect(tried).toEqual([6000]);
  });

  it('taken while no instance lives: any free port (nobody was told the old one)', async () => {
    const tried: number[] = [];
    expect(await attempt(false, tried)).toBe(0);
    expect(tried).toEqual([6000, 0]);
  });

  it('an explicit port that is taken is the caller’s error, as it was', async () => {
    await expect(
      listenOnKeptPort({
        what: 'broker',
        stateDir: dir,
        requested: 7000,
        recorded: 6000,
        guestsDependOnIt: async () => true,
        listen: async () => {
          throw inUse();
        },
      }),
    ).rejects.toThrow('EADDRINUSE');
  });
});
