import type { RawDb, RawQuery } from './raw';

/** How much one sweep may do: at most `maxBatches` statements of at most `batchRows` rows each. */
export interface BatchBounds {
  batchRows: number;
  maxBatches: number;
  /** Pause between two batches, so other work gets the table and the pool (default 0). */
  pauseMs?: number | undefined;
}

export interface BatchedDeleteResult {
  deleted: number;
  batches: number;
  /** The last batch was full: more rows are due (the next sweep continues). */
  more: boolean;
}

/**
 * Runs a delete statement batch by batch until a batch deletes fewer rows than `batchRows` or `maxBatches`
 * ran. `query(limit)` must delete at most `limit` rows in one statement and return `[{ n }]`, the count.
 * Each batch is its own short transaction (no lock is held between batches); statements that pick their
 * rows with `for update skip locked` let several replicas sweep the same table without waiting on each
 * other.
 */
export async function deleteInBatches(db: RawDb, query: (limit: number) => RawQuery, bounds: BatchBounds): Promise<BatchedDeleteResult> {
  let deleted = 0;
  let batches = 0;
  let more = false;
  while (batches < bounds.maxBatches) {
    const [row] = await db.query<{ n: number | string }>(query(bounds.batchRows));
    const n = Number(row?.n ?? 0);
    deleted += n;
    batches++;
    more = n >= bounds.batchRows;
    if (!more) break;
    if (bounds.pauseMs) await new Promise((r) => setTimeout(r, bounds.pauseMs));
  }
  return { deleted, batches, more };
}
