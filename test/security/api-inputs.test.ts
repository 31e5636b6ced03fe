/**
 * Malformed API inputs: fast-check generates requests for InstanceService.create, resize and
 * updateConfiguration that are invalid in exactly one field (so the error must name THAT field), plus arbitrary
 * values of any shape. Each must be refused with a ValidationError naming a field: never a crash, never another
 * error, never a half-written instance (the store holds the same instances and tasks afterwards).
 * Runs on the embedded aedes broker and the in-memory store (test/control-plane/harness.ts); no setup script.
 */
import { type ControlPlane, CorralError, ValidationError } from '@corral/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, idle, startEnv, type TestEnv, until } from '../control-plane/harness.js';

const VALID = { name: 'ok-name', flavor: 'small', datastore: { type: 'redis' } } as const;

/** Values no string field accepts. */
const notAString = fc.oneof(fc.constant(null), fc.integer(), fc.boolean(), fc.array(fc.nat(), { maxLength: 2 }));
const badName = fc.oneof(
  notAString,
  fc.constantFrom('', '-lead', '.dot', 'a'.repeat(64), 'has space', 'slash/name', 'ünïcode', 'new\nline'),
  fc.string({ minLength: 1, maxLength: 8 }).map((s) => `bad name ${s}`),
);
const badId = fc.oneof(
  notAString,
  fc.constantFrom('', '_x', 'a/b', 'a+b', '#', 'a'.repeat(65)),
  fc.string({ maxLength: 6 }).map((s) => `id with.dot${s}`),
);
const unknownRef = fc.stringMatching(/^[a-z]{1,12}$/).map((s) => `nope-${s}`);

/** field → values that make an otherwise valid create request invalid in that field. */
const brokenFields: Record<string, fc.Arbitrary<unknown>> = {
  name: badName,
  projectId: fc.oneof(notAString, fc.constantFrom('', 'p'.repeat(256))),
  provider: fc.oneof(notAString, fc.constant(''), unknownRef),
  flavor: fc.oneof(notAString, fc.constant(''), unknownRef),
  datastore: fc.oneof(
    notAString,
    fc.constant({}),
    fc.record({ type: fc.oneof(fc.constant(''), fc.integer(), unknownRef) }),
    fc.record({ type: fc.constant('redis'), version: fc.oneof(fc.constant(''), fc.integer(), unknownRef) }),
  ),
  volumeSizeGb: fc.oneof(
    fc.constantFrom(0, -1, 1.5, 16_385, Number.NaN, Number.POSITIVE_INFINITY, '10', null),
    fc.integer({ max: 0 }),
    fc.integer({ min: 16_385 }),
  ),
  configuration: fc.oneof(
    fc.constantFrom(null, 7, 'maxmemory=1', [1, 2]),
    fc.dictionary(unknownRef, fc.oneof(fc.string(), fc.integer()), { minKeys: 1, maxKeys: 3 }),
    fc.record({ '': fc.string() }),
    fc.record({ maxmemory: fc.oneof(fc.constant(null), fc.object(), fc.array(fc.string(), { maxLength: 2 })) }),
  ),
  id: badId,
};

const oneBrokenField = fc
  .constantFrom(...Object.keys(brokenFields))
  .chain((field) => (brokenFields[field] as fc.Arbitrary<unknown>).map((value) => ({ field, value })));

function expectFieldError(error: unknown, field?: string): void {
  // An unknown datastore or version is not malformed but absent: the catalog's typed not-found errors (as
  // Trove answers 404 for them), which name the datastore.
  if (field === 'datastore' && error instanceof CorralError && /^DATASTORE_(VERSION_)?NOT_FOUND$/.test(error.code)) {
    expect(error.message).toContain('datastore');
    return;
  }
  expect(error).toBeInstanceOf(ValidationError);
  const issues = (error as ValidationError).issues;
  expect(issues.length).toBeGreaterThan(0);
  if (field !== undefined) {
    // A bare value given where a single field is expected (resize's flavor) is reported at `(root)` of
    // "invalid flavor: ...".
    const paths = issues.map((issue) => issue.path.split('.')[0] ?? '');
    const message = (error as Error).message;
    const named = paths.includes(field);
    const namedAtRoot = paths.includes('(root)') && message.startsWith(`invalid ${field}:`);
    expect(named || namedAtRoot, `${message} (paths ${paths.join(', ')}) should name ${field}`).toBe(true);
    expect(message).toContain(field);
  } else {
    for (const issue of issues) expect(issue.path).not.toBe('');
  }
}

async function refusal(promise: Promise<unknown>, input: unknown): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error(`expected a refusal, but the call succeeded: ${fc.stringify(input)}`);
}

describe('malformed API inputs are refused with a ValidationError naming the field', () => {
  let env: TestEnv;
  let plane: ControlPlane;
  let activeId: string;
  const tried = { create: 0, resize: 0, updateConfiguration: 0 };
  const refused = { create: 0, resize: 0, updateConfiguration: 0 };

  async function snapshot() {
    const instances = await env.store.listInstances({ includeDeleted: true, limit: 1000 });
    const tasks = await env.store.listTasks();
    const active = await env.store.getInstance(activeId);
    return {
      instances: instances.items.map((i) => `${i.id}@${i.version}`).sort(),
      tasks: tasks.map((t) => `${t.id}:${t.state}`).sort(),
      active: { version: active.version, flavor: active.flavor, overrides: active.configurationOverrides },
    };
  }

  beforeAll(async () => {
    env = await startEnv();
    plane = await env.startPlane();
    const view = await create(plane, 'security-target');
    activeId = view.id;
    await until(plane, activeId, (v) => v.status === 'ACTIVE' && idle(v));
  });

  afterAll(async () => {
    console.log(
      `[security] malformed API inputs: tried ${JSON.stringify(tried)}, refused naming the field (ValidationError; unknown datastores DATASTORE_*_NOT_FOUND) ${JSON.stringify(refused)}`,
    );
    await env?.close();
  });

  it('create: 600 requests broken in one field, 200 arbitrary values', async () => {
    const before = await snapshot();
    const broken = fc.sample(oneBrokenField, { numRuns: 600, seed: 91 });
    for (const { field, value } of broken) {
      tried.create++;
      const request = { ...VALID, [field]: value };
      const error = await refusal(plane.instances.create(request as never), request);
      expectFieldError(error, field);
      refused.create++;
    }
    const arbitrary = fc.sample(
      fc.oneof(
        fc.anything(),
        fc.object(),
        fc.dictionary(fc.constantFrom('name', 'flavor', 'datastore'), fc.anything()),
      ),
      { numRuns: 200, seed: 92 },
    );
    for (const value of arbitrary) {
      tried.create++;
      expectFieldError(await refusal(plane.instances.create(value as never), value));
      refused.create++;
    }
    expect(await snapshot()).toEqual(before);
    expect(refused.create).toBe(800);
  });

  it('resize: 300 arbitrary flavors', async () => {
    const before = await snapshot();
    const flavors = fc.sample(
      fc
        .oneof(fc.anything(), fc.string({ maxLength: 20 }), unknownRef)
        .filter((f) => !['medium', 'f-medium'].includes(f as string)),
      { numRuns: 300, seed: 93 },
    );
    for (const flavor of flavors) {
      tried.resize++;
      expectFieldError(await refusal(plane.instances.resize(activeId, flavor as never), flavor), 'flavor');
      refused.resize++;
    }
    expect(await snapshot()).toEqual(before);
    expect(refused.resize).toBe(300);
  });

  it('updateConfiguration: 300 arbitrary override sets', async () => {
    const before = await snapshot();
    const overrides = fc.sample(
      fc.oneof(
        fc.anything().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
        fc.dictionary(unknownRef, fc.anything(), { minKeys: 1, maxKeys: 4 }),
        fc.record({ maxmemory: fc.oneof(fc.constant(null), fc.object(), fc.array(fc.nat(), { maxLength: 2 })) }),
      ),
      { numRuns: 300, seed: 94 },
    );
    for (const value of overrides) {
      tried.updateConfiguration++;
      expectFieldError(await refusal(plane.instances.updateConfiguration(activeId, value as never), value));
      refused.updateConfiguration++;
    }
    expect(await snapshot()).toEqual(before);
    expect(refused.updateConfiguration).toBe(300);
    // The target still works: a valid change goes through.
    expect((await plane.instances.get(activeId)).status).toBe('ACTIVE');
  });
});
