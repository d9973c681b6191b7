import type { Msg } from '@nats-io/transport-node';

export interface BoundedRunnerOptions {
  /** Messages handled at once. */
  concurrency: number;
  /** Messages waiting for a free slot, at most, in count and in payload bytes. */
  maxQueued: number;
  maxQueuedBytes: number;
  run(msg: Msg): Promise<void>;
  /** A message that found the queue full; it is not run. */
  onOverflow(msg: Msg): void;
  /** At most once a second while messages overflow: how many since the last report, and the queue then. */
  reportOverflow(report: { count: number; waiting: number; waitingBytes: number }): void;
}

export interface BoundedRunner {
  /** Runs the message now, queues it, or hands it to `onOverflow`. */
  admit(msg: Msg): void;
  /** Messages running now. */
  active(): number;
  /** Resolves once nothing runs and nothing waits. */
  idle(): Promise<void>;
}

/**
 * Messages taken off a subscription as they arrive (the client library's own buffer is unbounded) and
 * run with bounded concurrency; the rest wait in a queue bounded in count and bytes, in arrival order.
 */
export function createBoundedRunner(opts: BoundedRunnerOptions): BoundedRunner {
  const waiting: Msg[] = [];
  let waitingBytes = 0;
  let active = 0;
  let overflowSinceReport = 0;
  let lastReport = 0;
  const idleWaiters: Array<() => void> = [];

  const start = (msg: Msg) => {
    active++;
    void opts.run(msg).finally(() => {
      active--;
      const next = waiting.shift();
      if (next) {
        waitingBytes -= next.data.length;
        start(next);
      } else if (active === 0) idleWaiters.splice(0).forEach((r) => r());
    });
  };

  return {
    admit(msg) {
      if (active < opts.concurrency) return start(msg);
      if (waiting.length < opts.maxQueued && waitingBytes + msg.data.length <= opts.maxQueuedBytes) {
        waiting.push(msg);
        waitingBytes += msg.data.length;
        return;
      }
      opts.onOverflow(msg);
      overflowSinceReport++;
      const t = Date.now();
      if (t - lastReport >= 1000) {
        opts.reportOverflow({ count: overflowSinceReport, waiting: waiting.length, waitingBytes });
        overflowSinceReport = 0;
        lastReport = t;
      }
    },
    active: () => active,
    idle: () => (active === 0 && waiting.length === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r))),
  };
}
