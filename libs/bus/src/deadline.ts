import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The deadline of the request being handled (epoch ms, the envelope's `deadline`), carried through the
 * asynchronous call chain so that code far from the worker (a database transaction) can refuse to start
 * late and bound itself by the time left. After the deadline the ingress has answered the client with an
 * error: a write that lands later would contradict that answer.
 */
const current = new AsyncLocalStorage<number>();

/** Runs `fn` (and everything it starts) under `deadline`. */
export function withDeadline<T>(deadline: number, fn: () => T): T {
  return current.run(deadline, fn);
}

/** Runs `fn` outside any request deadline (work that outlives the request, e.g. notification fan-out). */
export function withoutDeadline<T>(fn: () => T): T {
  return current.exit(fn);
}

/** The deadline of the request this code runs for, if any. */
export function currentDeadline(): number | undefined {
  return current.getStore();
}

/** The request's deadline passed (or is too close to do the work and still answer in time). */
export class DeadlineExceededError extends Error {
  override name = 'DeadlineExceededError';
  constructor(
    readonly deadline: number,
    readonly stage: string,
    options?: ErrorOptions,
  ) {
    super(`request deadline ${deadline - Date.now() > 0 ? 'near' : 'passed'} (${stage}, ${Date.now() - deadline} ms after it)`, options);
  }
}

/** True for a `DeadlineExceededError`, also across module copies (checked by name). */
export function isDeadlineExceeded(err: unknown): err is DeadlineExceededError {
  return err instanceof DeadlineExceededError || (err instanceof Error && err.name === 'DeadlineExceededError');
}
