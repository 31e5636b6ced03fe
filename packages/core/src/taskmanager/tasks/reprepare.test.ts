import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { FakeProvider } from '../../testing/fake-provider.js';
import { reprepareOnNewBoot } from './create.js';
import type { FlowDeps, FlowInstance } from './deps.js';
import type { StepContext } from './flow.js';

function setup() {
  const casts: Array<{ method: string; requestId: string }> = [];
  const provider = new FakeProvider();
  const deps = {
    provider: () => provider,
    guest: {
      async cast(_guestId: string, method: string, _args: unknown, requestId: string) {
        casts.push({ method, requestId });
      },
    },
  } as unknown as FlowDeps;
  const step = new AbortController();
  const ctx = {
    taskId: 't1',
    instanceId: 'i1',
    params: {},
    data: { preparedBootId: 'boot-a' },
    signal: step.signal,
    deps,
  } as StepContext<FlowDeps>;
  const instance = { provider: 'fake', flavor: 'small', datastore: { type: 'redis', version: '7', manager: 'redis' } };
  return { casts, step, onStatus: reprepareOnNewBoot(ctx, instance as unknown as FlowInstance) };
}

describe('prepare again on a new boot', () => {
  it('leaves the prepared boot alone; sends a new unprepared boot prepare once, under that boot’s request id', async () => {
    const { casts, onStatus } = setup();
    expect(onStatus({ status: 'FAILED', bootId: 'boot-a', seq: 5 })).toBeUndefined();
    expect(onStatus({ status: 'FAILED', bootId: 'boot-b', seq: 1 })).toBe('ignore');
    expect(onStatus({ status: 'FAILED', bootId: 'boot-b', seq: 2 })).toBe('ignore');
    await sleep(10);
    expect(casts).toEqual([{ method: 'prepare', requestId: 't1:prepare:boot-b' }]);
    // Once the new boot has started it, its statuses are judged again (a FAILED now is the prepare's own).
    expect(onStatus({ status: 'BUILDING', bootId: 'boot-b', seq: 3 })).toBeUndefined();
    expect(onStatus({ status: 'FAILED', bootId: 'boot-b', seq: 4 })).toBeUndefined();
  });

  it('a boot that restarted after prepare finished is taken at its word', () => {
    const { casts, onStatus } = setup();
    expect(onStatus({ status: 'HEALTHY', bootId: 'boot-c', seq: 1 })).toBeUndefined();
    expect(onStatus({ status: 'NEW', bootId: null, seq: null })).toBeUndefined();
    expect(casts).toEqual([]);
  });

  it('sends no prepare once the step has ended while the flavors were being read', async () => {
    const { casts, step, onStatus } = setup();
    expect(onStatus({ status: 'INSTANCE_READY', bootId: 'boot-b', seq: 1 })).toBe('ignore');
    step.abort(new Error('lease lost'));
    await sleep(10);
    expect(casts).toEqual([]);
  });
});
