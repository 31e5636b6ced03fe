import type { TaskCaster } from '../instance/service.js';
import type { TaskKind } from './models.js';

/**
 * The cast side of the task manager (Trove's `taskmanager/api.py`). The task is already durable in the store
 * when this runs (written with the instance change, in one transaction), so a cast is only a wake-up: the
 * local workers claim at once, other processes hear it through the relay, and a lost wake-up costs at most
 * one idle interval of a worker. Nothing is lost if every process is down: the row waits for the next one.
 */
export class TaskManagerApi implements TaskCaster {
  readonly #wakers = new Set<(task: { id: string; kind: TaskKind; instanceId: string }) => void>();

  cast(task: { id: string; kind: TaskKind; instanceId: string }): void {
    for (const wake of this.#wakers) wake(task);
  }

  /** Registers something to wake on each cast (the local workers, the cross-process relay). */
  onCast(wake: (task: { id: string; kind: TaskKind; instanceId: string }) => void): () => void {
    this.#wakers.add(wake);
    return () => this.#wakers.delete(wake);
  }
}
