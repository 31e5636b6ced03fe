import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from './log.js';
import { BaseManager } from './manager/base.js';
import type { Health, ManagerContext } from './manager/types.js';
import { RedisManager } from './managers/redis/manager.js';
import { clearRegisteredDatastores, createManager, datastoreManagers, registerDatastore } from './registry.js';

const dirs: string[] = [];
function context(manager: string): ManagerContext {
  const stateDir = mkdtempSync(join(tmpdir(), 'registry-'));
  dirs.push(stateDir);
  return {
    dir: join(stateDir, manager),
    stateDir,
    datastore: { manager, version: '1', options: {} },
    logger: createLogger('silent'),
    statusChanged: () => {},
  };
}

class MemoryManager extends BaseManager {
  readonly name = 'memory';
  up = false;
  protected async doPrepare(): Promise<void> {
    this.up = true;
  }
  protected async startDatastore(): Promise<void> {
    this.up = true;
  }
  protected async stopDatastore(): Promise<void> {
    this.up = false;
  }
  protected async checkHealth(): Promise<Health> {
    return this.up ? 'healthy' : 'down';
  }
}

afterEach(() => {
  clearRegisteredDatastores();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('datastore registry', () => {
  it('has redis and postgresql by default', async () => {
    expect(datastoreManagers()).toEqual({ redis: 'default', postgresql: 'default' });
    expect(await createManager('redis', context('redis'))).toBeInstanceOf(RedisManager);
  });

  it('names the known managers when asked for an unknown one', async () => {
    await expect(createManager('mongodb', context('mongodb'))).rejects.toMatchObject({
      code: 'UNKNOWN_MANAGER',
      message: 'datastore.manager: unknown manager "mongodb" (known: postgresql, redis)',
    });
  });

  it('lets registerDatastore add and override managers', async () => {
    registerDatastore('memory', (ctx) => new MemoryManager(ctx));
    registerDatastore('redis', (ctx) => new MemoryManager(ctx));
    expect((await createManager('memory', context('memory'))).name).toBe('memory');
    expect((await createManager('redis', context('redis'))).name).toBe('memory');
    expect(() => registerDatastore('Bad Name', (ctx) => new MemoryManager(ctx))).toThrow(/datastore name/);
  });

  it('loads config-named modules, which win over registrations', async () => {
    registerDatastore('redis', (ctx) => new MemoryManager(ctx));
    const dir = mkdtempSync(join(tmpdir(), 'registry-mod-'));
    dirs.push(dir);
    const modulePath = join(dir, 'custom.mjs');
    writeFileSync(
      modulePath,
      'export function createManager(ctx) { return { name: "custom:" + ctx.datastore.manager }; }\n',
    );
    const manager = await createManager('redis', context('redis'), { redis: modulePath });
    expect(manager.name).toBe('custom:redis');
    await expect(createManager('x', context('x'), { x: join(dir, 'missing.mjs') })).rejects.toMatchObject({
      code: 'MANAGER_LOAD_FAILED',
    });
    writeFileSync(join(dir, 'empty.mjs'), 'export const nothing = 1;\n');
    await expect(createManager('y', context('y'), { y: join(dir, 'empty.mjs') })).rejects.toThrow(
      /exports no createManager or default function/,
    );
  });
});

describe('BaseManager lifecycle', () => {
  it('goes INSTANCE_READY → HEALTHY, SHUTDOWN on stop, CRASHED on an unexpected death', async () => {
    const ctx = context('memory');
    const manager = new MemoryManager(ctx);
    await manager.init();
    expect(await manager.status()).toEqual({ status: 'INSTANCE_READY' });
    await expect(manager.start()).rejects.toMatchObject({ code: 'NOT_PREPARED' });
    expect((await manager.prepare({})).status).toBe('HEALTHY');
    await expect(manager.prepare({})).rejects.toMatchObject({ code: 'ALREADY_PREPARED' });
    expect((await manager.stop()).status).toBe('SHUTDOWN');
    expect((await manager.start()).status).toBe('HEALTHY');
    manager.up = false;
    expect((await manager.status()).status).toBe('CRASHED');
    expect((await manager.restart()).status).toBe('HEALTHY');
    await expect(manager.listUsers()).rejects.toMatchObject({ code: 'UNSUPPORTED' });
  });

  it('reports a failed prepare as FAILED with the error, and a prepare cut off by a restart as FAILED', async () => {
    const ctx = context('memory');
    class Failing extends MemoryManager {
      protected override async doPrepare(): Promise<void> {
        throw new Error('disk full');
      }
    }
    const failing = new Failing(ctx);
    await failing.init();
    await expect(failing.prepare({})).rejects.toMatchObject({ code: 'DATASTORE_FAILED', message: 'disk full' });
    expect(await failing.status()).toEqual({ status: 'FAILED', detail: 'disk full' });

    const ctx2 = context('memory');
    const first = new MemoryManager(ctx2);
    await first.init();
    writeFileSync(join(ctx2.dir, 'lifecycle.json'), JSON.stringify({ phase: 'building', desired: 'running' }));
    const second = new MemoryManager(ctx2);
    await second.init();
    expect(await second.status()).toEqual({ status: 'FAILED', detail: 'prepare was interrupted by an agent restart' });
  });

  it('restarts a prepared datastore that should run when the agent starts (a guest reboot)', async () => {
    const ctx = context('memory');
    const first = new MemoryManager(ctx);
    await first.init();
    await first.prepare({});
    const second = new MemoryManager(ctx);
    expect(second.up).toBe(false);
    await second.init();
    expect(second.up).toBe(true);
    expect((await second.status()).status).toBe('HEALTHY');
  });
});
