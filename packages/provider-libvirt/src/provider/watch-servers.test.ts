import { describe, expect, it } from 'vitest';
import type { LifecycleListener } from '../api/connection.js';
import { uuidFromString } from '../api/domains.js';
import type { Libvirt } from '../api/index.js';
import { watchServers } from './watch-servers.js';

/** A libvirt whose connection delivers the lifecycle events a test fires. */
function fakeLibvirt() {
  const listeners = new Set<LifecycleListener>();
  let unsubscribed = 0;
  let onRegistered: () => void = () => undefined;
  /** Settles once the stream has registered its listener: events fired before that would be lost. */
  const registered = new Promise<void>((resolve) => {
    onRegistered = resolve;
  });
  const libvirt = {
    connection: {
      async onLifecycle(listener: LifecycleListener) {
        listeners.add(listener);
        onRegistered();
        return () => {
          unsubscribed++;
          listeners.delete(listener);
        };
      },
    },
  } as unknown as Libvirt;
  const fire = (name: string, uuid: string, event: number) => {
    for (const listener of listeners) listener({ dom: { name, uuid: uuidFromString(uuid), id: 1 }, event, detail: 0 });
  };
  return { libvirt, fire, listeners, registered, unsubscribed: () => unsubscribed };
}

const A = '0f8fad5b-d9cb-469f-a165-70867728950e';
const B = '7c9e6679-7425-40de-944b-e07fc1f90ae7';

describe('watchServers (libvirt lifecycle events)', () => {
  it("yields a hint per event of this provider's domains only, named, until aborted", async () => {
    const fake = fakeLibvirt();
    const controller = new AbortController();
    const stream = watchServers({
      signal: controller.signal,
      libvirt: async () => fake.libvirt,
      isOurs: (name) => name.startsWith('corral-'),
    });
    const first = stream.next();
    await fake.registered;
    fake.fire('corral-db-1', A, 5);
    fake.fire('someone-else', B, 5);
    fake.fire('corral-db-1', A, 2);
    fake.fire('corral-db-1', A, 42);
    expect((await first).value).toEqual({ serverId: A, event: 'stopped' });
    expect((await stream.next()).value).toEqual({ serverId: A, event: 'started' });
    expect((await stream.next()).value).toEqual({ serverId: A, event: 'event-42' });
    const pending = stream.next();
    controller.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(fake.unsubscribed()).toBe(1);
    expect(fake.listeners.size).toBe(0);
  });

  it('throws when libvirtd cannot be reached, so the caller can open it again later', async () => {
    const stream = watchServers({
      libvirt: async () => {
        throw new Error('connect ENOENT /var/run/libvirt/libvirt-sock');
      },
      isOurs: () => true,
    });
    await expect(stream.next()).rejects.toThrow(/ENOENT/);
  });
});
