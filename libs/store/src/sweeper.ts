/**
 * Runs a housekeeping task periodically: the first run after a random part of the interval (replicas
 * started together do not sweep in step), then every `intervalMs` after the previous run ended (runs never
 * overlap). A failed run is logged and the next one comes as usual.
 */
export interface SweeperLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface SweeperOptions<R> {
  name: string;
  intervalMs: number;
  run: () => Promise<R>;
  logger: SweeperLogger;
  onRun?: ((result: R) => void) | undefined;
  /** First run after this many ms (default: random in [0, intervalMs)). */
  firstDelayMs?: number | undefined;
}

export interface Sweeper<T> {
  /** Runs once now (after a run in progress); resolves with its result. */
  runNow(): Promise<T>;
  /** No further runs; waits for the one in progress. */
  stop(): Promise<void>;
}

export function startSweeper<T>(opts: SweeperOptions<T>): Sweeper<T> {
  let timer: NodeJS.Timeout | null = null;
  let current: Promise<unknown> = Promise.resolve();
  let stopped = false;

  const once = (): Promise<T> => {
    const run = current.then(async () => {
      const started = Date.now();
      const result = await opts.run();
      opts.onRun?.(result);
      opts.logger.debug({ sweep: opts.name, ms: Date.now() - started, result }, 'sweep done');
      return result;
    });
    current = run.catch(() => undefined);
    return run;
  };

  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = null;
      once()
        .catch((err: unknown) => opts.logger.warn({ err, sweep: opts.name }, 'sweep failed; next one as scheduled'))
        .finally(() => schedule(opts.intervalMs));
    }, delayMs);
    timer.unref();
  };
  schedule(opts.firstDelayMs ?? Math.floor(Math.random() * opts.intervalMs));

  return {
    runNow: once,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await current;
    },
  };
}
