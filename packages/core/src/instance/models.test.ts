import { describe, expect, it } from 'vitest';
import { parseWith, ValidationError } from '../errors/index.js';
import { NewTaskSchema, TaskSchema } from '../taskmanager/models.js';
import { InstancePatchSchema, InstanceSchema, NewInstanceSchema } from './models.js';

const newInstance = {
  id: 'i-1',
  name: 'cache',
  projectId: 'p1',
  provider: 'fake',
  flavor: 'small',
  image: 'debian',
  datastore: { type: 'redis', version: '7' },
};

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('instance schemas', () => {
  it('fills defaults for a new instance', () => {
    expect(parseWith(NewInstanceSchema, newInstance, 'instance')).toEqual({
      ...newInstance,
      volumeSizeGb: null,
      taskStatus: 'BUILDING',
      serviceStatus: 'NEW',
      configurationOverrides: {},
    });
  });

  it('names the field and the rule broken', () => {
    const error = errorOf(() =>
      parseWith(
        NewInstanceSchema,
        { ...newInstance, id: '-bad', datastore: { type: 'redis' }, volumeSizeGb: 0 },
        'instance',
      ),
    );
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.issues.map((issue) => issue.path)).toEqual(['id', 'datastore.version', 'volumeSizeGb']);
    expect(error.message).toMatch(/^invalid instance: id: must be letters, digits/);
    expect(error.message).toContain('datastore.version: Invalid input: expected string, received undefined');
    expect(error.message).toContain('volumeSizeGb: Too small: expected number to be >0');
  });

  it('refuses unknown statuses, naming the allowed ones', () => {
    const error = errorOf(() => parseWith(NewInstanceSchema, { ...newInstance, serviceStatus: 'SLEEPY' }, 'instance'));
    expect(error.issues[0]?.path).toBe('serviceStatus');
    expect(error.issues[0]?.message).toMatch(/expected one of .*"HEALTHY"/);
  });

  it('lets a patch touch only mutable fields', () => {
    expect(parseWith(InstancePatchSchema, { taskStatus: 'NONE', serverId: 's1' }, 'patch')).toEqual({
      taskStatus: 'NONE',
      serverId: 's1',
    });
    const error = errorOf(() => parseWith(InstancePatchSchema, { version: 3, lastSeq: 9 }, 'patch'));
    expect(error.message).toMatch(/Unrecognized keys: "version", "lastSeq"/);
  });

  it('requires every field of a stored record', () => {
    const error = errorOf(() => parseWith(InstanceSchema, { ...newInstance }, 'instance'));
    expect(error.issues.map((i) => i.path)).toContain('version');
    expect(error.issues.map((i) => i.path)).toContain('guestId');
  });
});

describe('task schemas', () => {
  it('defaults a new task', () => {
    expect(parseWith(NewTaskSchema, { id: 't1', kind: 'create', instanceId: 'i-1' }, 'task')).toEqual({
      id: 't1',
      kind: 'create',
      instanceId: 'i-1',
      args: {},
      deadline: null,
      requestId: null,
    });
  });

  it('names a bad kind and non-JSON checkpoint data', () => {
    const error = errorOf(() => parseWith(NewTaskSchema, { id: 't1', kind: 'explode', instanceId: 'i-1' }, 'task'));
    expect(error.issues[0]).toMatchObject({ path: 'kind' });
    expect(error.issues[0]?.message).toMatch(/"create"/);
    const bad = TaskSchema.shape.checkpoint.safeParse({ when: new Date() });
    expect(bad.success).toBe(false);
  });
});
