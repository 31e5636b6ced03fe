import type { Logger } from '../common/logger.js';

/**
 * What a create made so far, undone in reverse order if a later step fails, so nothing is left half-made.
 * An undo that fails is logged, never hides the error that caused the rollback.
 */
export class RollbackStack {
  private readonly steps: { what: string; undo: () => Promise<void> }[] = [];

  constructor(private readonly logger: Logger) {}

  push(what: string, undo: () => Promise<void>): void {
    this.steps.push({ what, undo });
  }

  /** Forget everything: the created resources now belong to something else (e.g. the server owns its volume). */
  release(): void {
    this.steps.length = 0;
  }

  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop();
      if (!step) break;
      try {
        await step.undo();
        this.logger.info({ what: step.what }, 'rolled back');
      } catch (error) {
        this.logger.warn(
          { what: step.what, error: error instanceof Error ? error.message : String(error) },
          'rollback step failed; resource may be left behind',
        );
      }
    }
  }
}
