import type { UserReport } from '../importer';

/**
 * Progress of an import: on a terminal one bar redrawn in place (`\r`), otherwise one plain line per
 * account (logs and CI keep every line). Pure formatting apart from `write`.
 */

export function progressBar(done: number, total: number | undefined, width = 30): string {
  if (total === undefined || total <= 0) return `[${'?'.repeat(width)}] ${done}`;
  const filled = Math.min(width, Math.floor((done / total) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`;
}

/** One account's outcome on one line. */
export function userLine(r: UserReport, dryRun: boolean): string {
  const created = r.nodes.filter((n) => n.status === 'created').length;
  const skipped = r.nodes.filter((n) => n.status === 'skipped').length;
  const items = r.nodes.reduce((s, n) => s + n.itemsImported, 0);
  const unchanged = r.nodes.reduce((s, n) => s + n.itemsUnchanged, 0);
  const verb = dryRun ? 'would import' : 'imported';
  const superseded = r.nodes.reduce((s, n) => s + n.itemsSuperseded, 0);
  const parts = [`${r.owner}: ${verb} ${items} item(s) in ${r.nodes.length - skipped} node(s) (${created} new)`, `${unchanged} already there`];
  if (superseded) parts.push(`${superseded} older than the broker's newest (not imported)`);
  if (skipped) parts.push(`${skipped} node(s) skipped`);
  const dropped = r.nodes.flatMap((n) => n.dropped.map((d) => `${n.node}: ${d}`));
  if (dropped.length) parts.push(`not kept: ${dropped.join(', ')}`);
  return parts.join('; ');
}

/** Per-node detail lines of a dry run. */
export function nodeLines(r: UserReport): string[] {
  return r.nodes.map(
    (n) =>
      `  ${n.node}: ${n.status}, +${n.itemsImported} item(s), ${n.itemsUnchanged} unchanged, ${n.itemsSuperseded ? `${n.itemsSuperseded} superseded, ` : ''}` +
      `+${n.affiliationsSet} affiliation(s), +${n.subscriptionsAdded} subscription(s)`,
  );
}

export interface Progress {
  user(r: UserReport): void;
  done(): void;
}

export function createProgress(opts: { tty: boolean; total: number | undefined; dryRun: boolean; write: (s: string) => void }): Progress {
  let n = 0;
  let items = 0;
  return {
    user(r) {
      n++;
      items += r.nodes.reduce((s, x) => s + x.itemsImported, 0);
      if (opts.tty && !opts.dryRun) opts.write(`\r${progressBar(n, opts.total)} accounts, ${items} item(s)`);
      else {
        opts.write(`${progressBar(n, opts.total)} ${userLine(r, opts.dryRun)}\n`);
        if (opts.dryRun) for (const l of nodeLines(r)) opts.write(`${l}\n`);
      }
    },
    done() {
      if (opts.tty && !opts.dryRun && n > 0) opts.write('\n');
    },
  };
}
