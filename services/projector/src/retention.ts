import { startSweeper, sweepAuditRetention, type RawDb, type Sweeper, type SweeperLogger } from '@dbroker/store';
import type { ProjectorConfig } from './config';

export type RetentionSettings = Pick<ProjectorConfig, 'EVENTS_RETENTION_DAYS' | 'AUDIT_RETENTION_DAYS' | 'RETENTION_INTERVAL_MS' | 'RETENTION_BATCH_ROWS' | 'RETENTION_MAX_BATCHES'>;

/**
 * The projector's periodic retention sweep of `events` and `audit_log` (every replica runs it; their
 * batches skip each other's rows). `onDeleted` receives the rows deleted per table (metrics).
 */
export function startAuditRetention(opts: {
  db: RawDb;
  config: RetentionSettings;
  logger: SweeperLogger;
  onDeleted?: (table: 'events' | 'audit_log', rows: number) => void;
  firstDelayMs?: number;
}): Sweeper<Awaited<ReturnType<typeof sweepAuditRetention>>> {
  const { config, logger } = opts;
  return startSweeper({
    name: 'audit-retention',
    intervalMs: config.RETENTION_INTERVAL_MS,
    firstDelayMs: opts.firstDelayMs,
    logger,
    run: () =>
      sweepAuditRetention(opts.db, {
        eventsDays: config.EVENTS_RETENTION_DAYS,
        auditDays: config.AUDIT_RETENTION_DAYS,
        bounds: { batchRows: config.RETENTION_BATCH_ROWS, maxBatches: config.RETENTION_MAX_BATCHES, pauseMs: 5 },
      }),
    onRun: (result) => {
      for (const table of ['events', 'audit_log'] as const) {
        const r = result[table];
        if (!r || r.deleted === 0) continue;
        opts.onDeleted?.(table, r.deleted);
        logger.info({ table, deleted: r.deleted, batches: r.batches, more: r.more }, 'retention: old rows deleted');
      }
    },
  });
}
