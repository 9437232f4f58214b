/**
 * EventHub fans events out to in-process subscribers (watch streams). Delivery is synchronous and in
 * emit order; a listener that throws is removed so one broken stream cannot affect the others.
 */
export class EventHub<E> {
  readonly #listeners = new Set<(event: E) => void>();

  /** Registers `listener`; returns the function that unregisters it. */
  subscribe(listener: (event: E) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Delivers `event` to every current listener. */
  emit(event: E): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch {
        this.#listeners.delete(listener);
      }
    }
  }

  /** How many listeners are registered. */
  get size(): number {
    return this.#listeners.size;
  }
}
