/**
 * A byte budget shared by concurrent senders: `acquire(n)` resolves once `n` bytes fit under `maxBytes`
 * beside what is held, `release(n)` gives them back. Waiters are served strictly in arrival order (a
 * large one at the head is not overtaken by small ones behind it: no starvation, and sends keep the
 * order in which they asked). A request larger than the whole budget is let through alone, once nothing
 * else is held, so it cannot wait forever.
 */
export interface ByteBudget {
  acquire(bytes: number): Promise<void>;
  release(bytes: number): void;
  /** Bytes held now. */
  held(): number;
  /** Most bytes ever held at once (tests, diagnostics). */
  peak(): number;
}

export function createByteBudget(maxBytes: number): ByteBudget {
  let held = 0;
  let peak = 0;
  const waiting: Array<{ bytes: number; go: () => void }> = [];
  const fits = (bytes: number) => held === 0 || held + bytes <= maxBytes;
  const take = (bytes: number) => {
    held += bytes;
    if (held > peak) peak = held;
  };
  const wakeUp = () => {
    while (waiting.length > 0 && fits(waiting[0]!.bytes)) {
      const next = waiting.shift()!;
      take(next.bytes);
      next.go();
    }
  };
  return {
    acquire(bytes) {
      if (waiting.length === 0 && fits(bytes)) {
        take(bytes);
        return Promise.resolve();
      }
      return new Promise<void>((go) => waiting.push({ bytes, go }));
    },
    release(bytes) {
      held = Math.max(0, held - bytes);
      wakeUp();
    },
    held: () => held,
    peak: () => peak,
  };
}
