import { startSweeper, type RawDb, type Sweeper, type SweeperLogger } from '@dbroker/store';
import { sweepUserState, type UserStateSweepResult } from '@dbroker/user-state';
import type { PepConfig } from './config';

export type UserStateSweepSettings = Pick<PepConfig, 'CAPS_CACHE_MAX_ROWS' | 'ROSTER_MAX_AGE_MS' | 'USER_STATE_SWEEP_INTERVAL_MS' | 'USER_STATE_SWEEP_BATCH_ROWS' | 'USER_STATE_SWEEP_MAX_BATCHES'>;

/** Every PEP replica sweeps the shared user state periodically (see sweepUserState: replicas never collide). */
export function startUserStateSweep(opts: {
  db: RawDb;
  config: UserStateSweepSettings;
  logger: SweeperLogger;
  onDeleted?: (table: keyof UserStateSweepResult, rows: number) => void;
  firstDelayMs?: number;
}): Sweeper<UserStateSweepResult> {
  const { config, logger } = opts;
  return startSweeper({
    name: 'user-state',
    intervalMs: config.USER_STATE_SWEEP_INTERVAL_MS,
    firstDelayMs: opts.firstDelayMs,
    logger,
    run: () =>
      sweepUserState({
        db: opts.db,
        bounds: { batchRows: config.USER_STATE_SWEEP_BATCH_ROWS, maxBatches: config.USER_STATE_SWEEP_MAX_BATCHES, pauseMs: 5 },
        capsMaxRows: config.CAPS_CACHE_MAX_ROWS,
        rosterMaxAgeMs: config.ROSTER_MAX_AGE_MS,
      }),
    onRun: (result) => {
      const deleted = Object.entries(result).filter(([, r]) => r.deleted > 0);
      for (const [table, r] of deleted) opts.onDeleted?.(table as keyof UserStateSweepResult, r.deleted);
      if (deleted.length > 0) logger.info(Object.fromEntries(deleted.map(([t, r]) => [t, r.deleted])), 'user state sweep: rows deleted');
    },
  });
}
