import { applyStateMessage, type LivenessView, type StateMessage } from '../messaging/liveness.js';
import type { PresencePort } from '../taskmanager/tasks/deps.js';

/**
 * Which guests are connected, from the retained birth / last-will messages on their state topics. Retained
 * births mean a process that subscribes late (a resumed worker) still learns of a guest that connected before.
 */
export class GuestPresence implements PresencePort {
  readonly #views = new Map<string, LivenessView>();
  readonly #birthListeners = new Map<string, Set<(birth: { bootId: string }) => void>>();
  readonly #deathListeners = new Set<(guestId: string, bootId: string) => void>();

  /** Folds in a state message; returns whether it was a death of the current boot (older boots are ignored). */
  apply(guestId: string, message: StateMessage): 'birth' | 'death' | 'ignored' {
    const before = this.#views.get(guestId);
    const after = applyStateMessage(before, message);
    this.#views.set(guestId, after);
    if (message.state === 'birth') {
      for (const listener of this.#birthListeners.get(guestId) ?? []) listener({ bootId: message.bootId });
      return 'birth';
    }
    if (after.alive === false && (before === undefined || before.alive || before.bootId !== after.bootId)) {
      for (const listener of this.#deathListeners) listener(guestId, message.bootId);
      return 'death';
    }
    return 'ignored';
  }

  view(guestId: string): LivenessView | undefined {
    return this.#views.get(guestId);
  }

  onBirth(guestId: string, listener: (birth: { bootId: string }) => void): () => void {
    let set = this.#birthListeners.get(guestId);
    if (set === undefined) {
      set = new Set();
      this.#birthListeners.set(guestId, set);
    }
    set.add(listener);
    const current = this.#views.get(guestId);
    if (current?.alive) queueMicrotask(() => listener({ bootId: current.bootId }));
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#birthListeners.delete(guestId);
    };
  }

  onDeath(listener: (guestId: string, bootId: string) => void): () => void {
    this.#deathListeners.add(listener);
    return () => this.#deathListeners.delete(listener);
  }
}
