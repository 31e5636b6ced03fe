import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from './journal.js';

const dirs: string[] = [];
function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'journal-'));
  dirs.push(dir);
  return join(dir, 'journal.jsonl');
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('Journal', () => {
  it('keeps outcomes across a reopen (an agent restart)', () => {
    const path = tempPath();
    const first = Journal.open(path, 'boot-1');
    first.begin('r1', 'prepare');
    first.finish('r1', 'prepare', { ok: true, result: { status: 'HEALTHY' } });
    first.begin('r2', 'create_user');
    first.finish('r2', 'create_user', { ok: false, error: { code: 'BAD_REQUEST', message: 'nope' } });
    first.close();

    const second = Journal.open(path, 'boot-2');
    expect(second.get('r1')).toMatchObject({ state: 'done', outcome: { ok: true, result: { status: 'HEALTHY' } } });
    expect(second.get('r2')?.outcome).toEqual({ ok: false, error: { code: 'BAD_REQUEST', message: 'nope' } });
    expect(second.get('r3')).toBeUndefined();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    second.close();
  });

  it('tells a request cut off by a crash from one running now', () => {
    const path = tempPath();
    const first = Journal.open(path, 'boot-1');
    first.begin('r1', 'prepare');
    const running = first.get('r1');
    expect(running && first.isInterrupted(running)).toBe(false);
    first.close();
    const second = Journal.open(path, 'boot-2');
    const cut = second.get('r1');
    expect(cut?.state).toBe('started');
    expect(cut && second.isInterrupted(cut)).toBe(true);
    second.close();
  });

  it('skips a torn last line and compacts to the newest entries', () => {
    const path = tempPath();
    const journal = Journal.open(path, 'b', { maxEntries: 3 });
    for (let i = 0; i < 5; i++) {
      journal.begin(`r${i}`, 'rpc_ping');
      journal.finish(`r${i}`, 'rpc_ping', { ok: true, result: i });
    }
    journal.close();
    appendFileSync(path, '{"id":"torn","meth');
    const reopened = Journal.open(path, 'c', { maxEntries: 3 });
    expect(reopened.get('torn')).toBeUndefined();
    expect(reopened.get('r0')).toBeUndefined();
    expect(reopened.get('r4')?.outcome).toEqual({ ok: true, result: 4 });
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(3);
    reopened.close();
  });

  it('ignores lines that are not journal entries', () => {
    const path = tempPath();
    writeFileSync(path, '{"id":1}\nnot json\n');
    const journal = Journal.open(path, 'b');
    expect(journal.get('1')).toBeUndefined();
    journal.close();
  });
});
