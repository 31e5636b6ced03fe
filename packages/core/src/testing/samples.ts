import type { NewInstance } from '../instance/models.js';
import type { NewTask } from '../taskmanager/models.js';

/** Sample records and a hand-moved clock for store tests (no test runner needed). */

/** A clock the suite moves by hand, so lease expiry needs no sleeping. */
export class ManualClock {
  constructor(public now = Date.UTC(2026, 0, 1)) {}
  readonly read = (): number => this.now;
  advance(ms: number): void {
    this.now += ms;
  }
}

export const sampleInstance = (id: string, extra: Partial<NewInstance> = {}): NewInstance => ({
  id,
  name: `db-${id}`,
  projectId: 'project-a',
  provider: 'fake',
  flavor: 'small',
  image: 'corral-guest',
  datastore: { type: 'redis', version: '7' },
  ...extra,
});

export const sampleTask = (id: string, instanceId: string, extra: Partial<NewTask> = {}): NewTask => ({
  id,
  kind: 'create',
  instanceId,
  ...extra,
});
