/**
 * At most `limit` calls at a time; the rest wait in arrival order. One per provider, shared by rounds and
 * hints, so a burst of hints (a host failure stops a hundred domains at once) never puts more than `limit`
 * calls in flight against the provider.
 */
export class Limiter {
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(readonly limit: number) {}

  /** Calls in flight now. */
  get active(): number {
    return this.#active;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active < this.limit) this.#active++;
    // The slot is handed over by the call that ends (see below): `active` stays counted meanwhile.
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#active--;
    }
  }
}
