/**
 * Revocation when an instance is deleted: the guest is cut off at once, whatever its agent does.
 *   - a guest that receives `stop_db` and never answers does not hold back its revocation (the stop is a cast,
 *     and revocation follows it; before, the delete waited `guestCallMs` for the answer first).
 * Needs nothing beyond npm deps (the embedded broker runs in-process).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, idle, startEnv, type TestEnv, until } from '../control-plane/harness.js';
import { eventually } from '../messaging/harness.js';

describe('revocation on delete', () => {
  let env: TestEnv;

  beforeAll(async () => {
    env = await startEnv();
  });
  afterAll(async () => {
    await env?.close();
  });

  it('a guest that never answers stop_db is revoked without waiting for it', async () => {
    // A call timeout far beyond the test's: revocation must not wait for the stop's answer at all.
    const plane = await env.startPlane({
      timeouts: { buildMs: 6_000, recoverMs: 3_000, deleteMs: 3_000, guestCallMs: 600_000, providerPollMs: 50 },
    });
    const view = await create(plane, 'db-stop-hangs');
    await until(plane, view.id, idle);
    const [certificate] = await env.store.listGuestCertificates({ guestId: view.id });
    expect(certificate?.revoked).toBe(false);
    await plane.instances.delete(view.id);
    await eventually(() => env.revocations.isRevoked(certificate?.serial ?? ''), 20_000, 'the guest revoked');
    const gone = await until(plane, view.id, (v) => v.deletedAt !== null, 20_000);
    expect(gone.status).toBe('DELETED');
  });
});
