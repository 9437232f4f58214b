/**
 * KeyedMutex serializes async critical sections per key, within this process. The daemon is the only
 * process that opens the store (LevelDB's lock enforces that), so this is enough to make
 * read-check-write transitions (create a code, approve a code) race-free.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier section for `key` has finished; returns what `fn` returns or throws. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /**
   * Waits until every earlier section for `key` has finished and returns the function that ends this
   * one (call it exactly once). For sections that span several locks (see SharedStore `tx.lock`).
   */
  async acquire(key: string): Promise<() => void> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.#tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
  }
}
