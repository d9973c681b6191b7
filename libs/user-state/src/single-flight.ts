/** A running flight, as its function sees it. */
export interface Flight {
  /** Set by `forget`: callers after that start their own flight; this one should not store its result. */
  readonly forgotten: boolean;
}

/**
 * Per-process single flight: concurrent calls with one key share one run of `fn`; the entry is gone once
 * it settles, so the next call starts afresh.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, { promise: Promise<T>; flight: { forgotten: boolean } }>();

  run(key: string, fn: (flight: Flight) => Promise<T>): Promise<T> {
    const pending = this.flights.get(key);
    if (pending) return pending.promise;
    const flight = { forgotten: false };
    const entry = { flight, promise: Promise.resolve().then(() => fn(flight)) };
    entry.promise = entry.promise.finally(() => {
      if (this.flights.get(key) === entry) this.flights.delete(key);
    });
    this.flights.set(key, entry);
    return entry.promise;
  }

  /** Detach the running flight of `key`: it still settles for its callers, later calls start a new one. */
  forget(key: string): void {
    const entry = this.flights.get(key);
    if (!entry) return;
    entry.flight.forgotten = true;
    this.flights.delete(key);
  }

  get size(): number {
    return this.flights.size;
  }
}
