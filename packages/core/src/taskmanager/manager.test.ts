import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ProviderUnavailableError } from '../provider/errors.js';
import { createMemoryStore } from '../store/memory.js';
import type { Store } from '../store/types.js';
import { TaskManager } from './manager.js';
import { type Flow, StepError } from './tasks/flow.js';
import { storeTaskQueue } from './tasks/store-adapters.js';

const logger = pino({ level: 'silent' });

async function seed(store: Store, id: string) {
  await store.createInstance(
    {
      id,
      name: id,
      projectId: 'p',
      provider: 'fake',
      flavor: 'small',
      image: 'img',
      datastore: { type: 'redis', version: '7' },
    },
    { id: `task-${id}`, kind: 'create', instanceId: id },
  );
}

async function settle(store: Store, taskId: string, timeoutMs = 5_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const task = await store.getTask(taskId);
    if (task.state === 'succeeded' || task.state === 'failed') return task;
    if (Date.now() > until) throw new Error(`task ${taskId} still ${task.state} at ${task.step}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function manager(store: Store, flow: Flow<{ log: string[] }>, log: string[], leaseMs = 200) {
  return new TaskManager({
    queue: storeTaskQueue(store),
    flows: [flow],
    deps: { log },
    logger,
    leaseMs,
    idleMs: 20,
    concurrency: 2,
  });
}

describe('TaskManager', () => {
  it('runs the steps in order, checkpointing each, and ends the instance task NONE', async () => {
    const store = createMemoryStore();
    await seed(store, 'a');
    const log: string[] = [];
    const flow: Flow<{ log: string[] }> = {
      kind: 'create',
      errorTaskStatus: 'BUILDING_ERROR_SERVER',
      steps: ['one', 'two', 'three'].map((name) => ({
        name,
        async run(ctx) {
          ctx.deps.log.push(name);
          return { [name]: true };
        },
      })),
    };
    const tm = manager(store, flow, log);
    tm.start();
    const task = await settle(store, 'task-a');
    await tm.stop();
    expect(log).toEqual(['one', 'two', 'three']);
    expect(task.step).toBe('three');
    expect(task.checkpoint).toEqual({ one: true, two: true, three: true });
    expect((await store.getInstance('a')).taskStatus).toBe('NONE');
  });

  it('a worker that stops mid-step leaves the task; another resumes after the last checkpoint', async () => {
    const store = createMemoryStore();
    await seed(store, 'b');
    const log: string[] = [];
    let hang = true;
    const flow: Flow<{ log: string[] }> = {
      kind: 'create',
      errorTaskStatus: 'BUILDING_ERROR_SERVER',
      steps: [
        { name: 'first', run: async (ctx) => void ctx.deps.log.push('first') },
        {
          name: 'second',
          async run(ctx) {
            ctx.deps.log.push('second');
            if (hang)
              await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
            return undefined;
          },
        },
      ],
    };
    const a = manager(store, flow, log);
    a.start();
    while (!log.includes('second')) await new Promise((resolve) => setTimeout(resolve, 5));
    await a.stop();
    hang = false;
    const b = manager(store, flow, log);
    b.start();
    const task = await settle(store, 'task-b');
    await b.stop();
    expect(task.state).toBe('succeeded');
    expect(task.attempts).toBe(2);
    // "first" was checkpointed: it ran once; "second" ran again.
    expect(log).toEqual(['first', 'second', 'second']);
  });

  it('a failed step ends in its error task status with a fault naming the step', async () => {
    const store = createMemoryStore();
    await seed(store, 'c');
    const flow: Flow<{ log: string[] }> = {
      kind: 'create',
      errorTaskStatus: 'BUILDING_ERROR_SERVER',
      steps: [
        {
          name: 'boom',
          async run() {
            throw new StepError('guest timed out', { taskStatus: 'BUILDING_ERROR_TIMEOUT_GA', details: 'why' });
          },
        },
      ],
    };
    const tm = manager(store, flow, []);
    tm.start();
    const task = await settle(store, 'task-c');
    await tm.stop();
    expect(task.state).toBe('failed');
    const instance = await store.getInstance('c');
    expect(instance.taskStatus).toBe('BUILDING_ERROR_TIMEOUT_GA');
    expect(instance.fault).toMatchObject({ message: 'guest timed out', details: 'why', step: 'boom' });
    expect(instance.fault?.time).toBeGreaterThan(0);
  });

  it('retries a step on a transient provider error', async () => {
    const store = createMemoryStore();
    await seed(store, 'd');
    let calls = 0;
    const flow: Flow<{ log: string[] }> = {
      kind: 'create',
      errorTaskStatus: 'BUILDING_ERROR_SERVER',
      steps: [
        {
          name: 'flaky',
          async run() {
            calls++;
            if (calls < 3) throw new ProviderUnavailableError('503', { provider: 'fake' });
            return undefined;
          },
        },
      ],
    };
    const tm = manager(store, flow, []);
    tm.start();
    expect((await settle(store, 'task-d')).state).toBe('succeeded');
    await tm.stop();
    expect(calls).toBe(3);
  });
});
