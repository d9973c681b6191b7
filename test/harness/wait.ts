import type { Pool } from 'pg';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy; throws naming `what` after `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Rows of a query, or none while the table does not exist yet (the services migrate at start-up). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function sqlRows(pool: Pool, text: string, values: unknown[] = []): Promise<Record<string, any>[]> {
  try {
    return (await pool.query(text, values)).rows;
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return [];
    throw err;
  }
}
