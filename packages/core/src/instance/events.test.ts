import { describe, expect, it } from 'vitest';
import { StatusEventBus } from './events.js';

const event = (instanceId: string, status: string) =>
  ({ kind: 'service-status', instanceId, status, at: new Date().toISOString() }) as const;

describe('StatusEventBus', () => {
  it('streams events of one instance until aborted', async () => {
    const bus = new StatusEventBus();
    const controller = new AbortController();
    const stream = bus.stream({ instanceId: 'a', signal: controller.signal });
    bus.publish(event('b', 'HEALTHY'));
    bus.publish(event('a', 'BUILDING'));
    bus.publish(event('a', 'HEALTHY'));
    const seen: string[] = [];
    for await (const e of stream) {
      if (e.kind === 'service-status') seen.push(e.status);
      if (seen.length === 2) controller.abort();
    }
    expect(seen).toEqual(['BUILDING', 'HEALTHY']);
  });

  it('waitFor resolves on the first match; forwarders see local events but not relayed ones', async () => {
    const bus = new StatusEventBus();
    const forwarded: string[] = [];
    bus.addForwarder((e) => forwarded.push(e.instanceId));
    const wait = bus.waitFor('a', (e) => (e.kind === 'service-status' && e.status === 'HEALTHY' ? e : undefined));
    bus.deliver(event('a', 'BUILDING'));
    bus.publish(event('a', 'HEALTHY'));
    expect((await wait.promise).instanceId).toBe('a');
    expect(forwarded).toEqual(['a']);
  });

  it('waitFor rejects when its signal aborts', async () => {
    const bus = new StatusEventBus();
    const controller = new AbortController();
    const wait = bus.waitFor('a', () => undefined, { signal: controller.signal });
    controller.abort(new Error('deadline'));
    await expect(wait.promise).rejects.toThrow('deadline');
  });
});
