import { describe, expect, it } from 'vitest';
import { ProviderUnavailableError } from '../provider/errors.js';
import { isTransientInfrastructureError } from './manager.js';
import { StepError } from './tasks/flow.js';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isTransientInfrastructureError', () => {
  it('recognises a database going away under a step', () => {
    expect(
      isTransientInfrastructureError(withCode('57P01', 'terminating connection due to administrator command')),
    ).toBe(true);
    expect(isTransientInfrastructureError(withCode('08006'))).toBe(true);
    expect(isTransientInfrastructureError(withCode('ECONNREFUSED'))).toBe(true);
    expect(isTransientInfrastructureError(new Error('Connection terminated unexpectedly'))).toBe(true);
  });

  it('leaves the task’s own failures to fail the task', () => {
    expect(isTransientInfrastructureError(new StepError('prepare failed'))).toBe(false);
    expect(isTransientInfrastructureError(new ProviderUnavailableError('503', { provider: 'fake' }))).toBe(false);
    expect(isTransientInfrastructureError(withCode('23505', 'duplicate key'))).toBe(false);
    expect(isTransientInfrastructureError(new Error('no flow for task kind "x"'))).toBe(false);
    expect(isTransientInfrastructureError(undefined)).toBe(false);
  });
});
