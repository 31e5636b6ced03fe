import { describe, expect, it } from 'vitest';
import { DuplicateStatusCodeError, defineStatuses } from './define.js';
import { serviceStatusByCode, serviceStatuses, serviceStatusNames } from './service-status.js';
import { instanceTaskStatusByCode, instanceTaskStatuses, instanceTaskStatusNames } from './task-status.js';

describe('defineStatuses', () => {
  it('refuses two statuses sharing a code, naming both', () => {
    expect(() => defineStatuses('service status', { UPGRADING: { code: 0x22 }, RESTARTING: { code: 0x22 } })).toThrow(
      new DuplicateStatusCodeError(
        'service status: RESTARTING and UPGRADING share code 0x22; every status needs its own',
      ),
    );
  });

  it('refuses a code that is not a non-negative integer', () => {
    expect(() => defineStatuses('x', { A: { code: 1.5 } })).toThrow(/A has code 1.5/);
    expect(() => defineStatuses('x', { A: { code: -1 } })).toThrow(/A has code -1/);
  });

  it('adds each name and looks entries up by code', () => {
    const { table, names, byCode } = defineStatuses('x', { A: { code: 1 }, B: { code: 2 } });
    expect(table.B).toEqual({ code: 2, name: 'B' });
    expect(names).toEqual(['A', 'B']);
    expect(byCode(1)?.name).toBe('A');
    expect(byCode(3)).toBeUndefined();
  });
});

describe('the shipped vocabularies', () => {
  it.each([
    ['instance task', instanceTaskStatusNames, instanceTaskStatuses, instanceTaskStatusByCode],
    ['service', serviceStatusNames, serviceStatuses, serviceStatusByCode],
  ] as const)('%s statuses have unique codes that round-trip', (_, names, table, byCode) => {
    const codes = names.map((name) => (table as Record<string, { code: number }>)[name]?.code);
    expect(new Set(codes).size).toBe(names.length);
    for (const name of names) {
      const code = (table as Record<string, { code: number }>)[name]?.code ?? -1;
      expect(byCode(code)?.name).toBe(name);
    }
  });

  it('fixes Trove’s collision: UPGRADING and RESTARTING differ', () => {
    expect(serviceStatuses.UPGRADING.code).toBe(0x22);
    expect(serviceStatuses.RESTARTING.code).not.toBe(serviceStatuses.UPGRADING.code);
  });

  it('has the statuses the issue names', () => {
    for (const name of ['NONE', 'BUILDING', 'DELETING', 'REBOOTING', 'RESIZING', 'RESTART_REQUIRED']) {
      expect(instanceTaskStatusNames).toContain(name);
    }
    for (const name of ['BUILDING_ERROR_SERVER', 'BUILDING_ERROR_VOLUME', 'BUILDING_ERROR_TIMEOUT_GA']) {
      expect(instanceTaskStatuses[name as 'BUILDING_ERROR_SERVER'].isError).toBe(true);
    }
    for (const name of [
      'NEW',
      'BUILDING',
      'INSTANCE_READY',
      'RUNNING',
      'HEALTHY',
      'SHUTDOWN',
      'CRASHED',
      'FAILED',
      'FAILED_TIMEOUT_GUESTAGENT',
      'RESTARTING',
      'UPGRADING',
      'UNKNOWN',
      'DELETED',
    ]) {
      expect(serviceStatusNames).toContain(name);
    }
  });
});
