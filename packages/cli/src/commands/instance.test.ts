import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from '../exit-codes.js';
import { createRequest, parseInstanceId } from './instance.js';

const flags = { flavor: 'small', datastore: 'redis', wait: false, timeout: '900' };

describe('instance create flags', () => {
  it('become core CreateInstanceRequest, with an optional datastore version', () => {
    expect(createRequest('db1', { ...flags, datastore: 'postgresql:15', volumeSize: '2' })).toMatchObject({
      name: 'db1',
      flavor: 'small',
      datastore: { type: 'postgresql', version: '15' },
      volumeSizeGb: 2,
    });
  });

  it('name the flag and the rule when bad (exit code usage)', () => {
    const attempt = (name: string, extra: Partial<typeof flags> & { volumeSize?: string }) => {
      try {
        createRequest(name, { ...flags, ...extra });
      } catch (error) {
        expect(error).toBeInstanceOf(CliError);
        expect((error as CliError).exitCode).toBe(ExitCode.usage);
        return (error as CliError).message;
      }
      throw new Error('accepted');
    };
    expect(attempt('-bad', {})).toMatch(/^<name>: must be 1-63/);
    expect(attempt('ok', { volumeSize: '0' })).toMatch(/^--volume-size:/);
    expect(attempt('ok', { volumeSize: 'lots' })).toMatch(/^--volume-size:/);
    expect(attempt('ok', { datastore: '' })).toMatch(/^--datastore:/);
  });

  it('checks ids before calling the daemon', () => {
    expect(parseInstanceId('abc-1')).toBe('abc-1');
    expect(() => parseInstanceId('../etc')).toThrow(/<id>/);
  });
});
