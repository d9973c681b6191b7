import { startSweeper, type RawDb, type Sweeper, type SweeperLogger } from '@dbroker/store';
import { createNodeHistorySweeper, type NodeHistorySweepResult } from '@dbroker/pubsub';
import type { PepConfig } from './config';

export type NodeHistorySweepSettings = Pick<
  PepConfig,
  | 'NODE_HISTORY_RETENTION_DAYS'
  | 'NODE_HISTORY_MAX_EVENTS'
  | 'NODE_TOMBSTONE_RETENTION_DAYS'
  | 'NODE_HISTORY_SWEEP_INTERVAL_MS'
  | 'NODE_HISTORY_SWEEP_BATCH_ROWS'
  | 'NODE_HISTORY_SWEEP_MAX_BATCHES'
>;

/** The tables the sweep deletes from, as the retention metric labels them. */
export type NodeHistoryTable = 'pubsub_node_events' | 'pubsub_nodes';

/**
 * Every PEP replica sweeps the pubsub node history periodically (see createNodeHistorySweeper: replicas
 * skip each other's rows). `onDeleted` receives the rows deleted per table (metrics).
 */
export function startNodeHistorySweep(opts: {
  db: RawDb;
  config: NodeHistorySweepSettings;
  logger: SweeperLogger;
  onDeleted?: (table: NodeHistoryTable, rows: number) => void;
  firstDelayMs?: number;
}): Sweeper<NodeHistorySweepResult> {
  const { config, logger } = opts;
  const sweeper = createNodeHistorySweeper(opts.db, {
    retentionDays: config.NODE_HISTORY_RETENTION_DAYS,
    maxEvents: config.NODE_HISTORY_MAX_EVENTS,
    tombstoneDays: config.NODE_TOMBSTONE_RETENTION_DAYS,
    bounds: { batchRows: config.NODE_HISTORY_SWEEP_BATCH_ROWS, maxBatches: config.NODE_HISTORY_SWEEP_MAX_BATCHES, pauseMs: 5 },
  });
  return startSweeper({
    name: 'node-history',
    intervalMs: config.NODE_HISTORY_SWEEP_INTERVAL_MS,
    firstDelayMs: opts.firstDelayMs,
    logger,
    run: () => sweeper.sweep(),
    onRun: (r) => {
      const events = r.aged + r.capped + r.tombstoneEvents;
      if (events > 0) opts.onDeleted?.('pubsub_node_events', events);
      if (r.tombstones > 0) opts.onDeleted?.('pubsub_nodes', r.tombstones);
      if (events > 0 || r.tombstones > 0) {
        logger.info({ aged: r.aged, capped: r.capped, tombstoneEvents: r.tombstoneEvents, tombstones: r.tombstones, more: r.more }, 'node history sweep: rows deleted');
      }
    },
  });
}
