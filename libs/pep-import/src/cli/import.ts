/**
 * `npm run import -- --from prosody --data-path /var/lib/prosody --host example.org [--dry-run]` or
 * `npm run import -- --from xep0227 --file export.xml [--dry-run]`:
 * imports existing PEP data into the broker's database (DATABASE_URL, or the embedded PGlite of
 * `npm start`), migrating it first. Exit codes: 0 done, 1 failed, 2 bad usage or configuration,
 * 3 done but some entries were skipped (listed on stderr).
 */
import { parseArgs } from 'node:util';
import { createPgPubsubStorage } from '@dbroker/pubsub';
import { importAll } from '../importer';
import type { ImportSource } from '../model';
import { createProsodyFileSource } from '../prosody-files';
import { createXep0227Source } from '../xep0227';
import { loadPepImportConfig } from './config';
import { createProgress } from './progress';
import { UsageError, runCli, usageExit, withMigratedDatabase } from './run';

const USAGE = `usage: npm run import -- --from prosody --data-path DIR --host DOMAIN [--dry-run] [--concurrency N]
       npm run import -- --from xep0227 --file FILE.xml [--file FILE2.xml ...] [--dry-run]`;


/** Several files one after the other (prosody-migrator writes one XEP-0227 file per account). */
function concatSources(sources: ImportSource[]): ImportSource {
  return {
    label: sources.map((s) => s.label).join(', '),
    async countUsers() {
      let n = 0;
      for (const s of sources) n += (await s.countUsers()) ?? 0;
      return n;
    },
    async *users() {
      for (const s of sources) yield* s.users();
    },
  };
}

function sourceFrom(values: Record<string, string | boolean | string[] | undefined>): ImportSource {
  const from = values.from;
  if (from === 'prosody') {
    const dataPath = values['data-path'];
    const host = values.host;
    if (typeof dataPath !== 'string' || typeof host !== 'string' || host === '') throw new UsageError('--from prosody needs --data-path and --host');
    return createProsodyFileSource({ dataPath, host: host.toLowerCase() });
  }
  if (from === 'xep0227') {
    const files = values.file;
    if (!Array.isArray(files) || files.length === 0) throw new UsageError('--from xep0227 needs --file (one or more)');
    return concatSources(files.map((file) => createXep0227Source({ file })));
  }
  throw new UsageError(`unsupported --from ${String(from)} (supported: prosody, xep0227)`);
}

async function main(argv: string[]): Promise<number> {
  let source: ImportSource;
  let dryRun: boolean;
  let concurrency: number;
  let config;
  try {
    const { values } = parseArgs({
      args: argv,
      options: { from: { type: 'string' }, 'data-path': { type: 'string' }, host: { type: 'string' }, file: { type: 'string', multiple: true }, concurrency: { type: 'string', default: '4' }, 'dry-run': { type: 'boolean', default: false } },
      strict: true,
    });
    source = sourceFrom(values);
    dryRun = values['dry-run'] === true;
    concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new UsageError('--concurrency takes an integer from 1 to 64');
    config = loadPepImportConfig(process.env);
  } catch (err) {
    return usageExit(err, USAGE);
  }

  return withMigratedDatabase(config, concurrency + 1, async (handle) => {
    const storage = createPgPubsubStorage(handle.raw);
    const progress = createProgress({ tty: process.stderr.isTTY === true, total: await source.countUsers(), dryRun, write: (s) => process.stderr.write(s) });
    const started = performance.now();
    const summary = await importAll(source, { storage, dryRun, concurrency, maxPayloadBytes: config.MAX_PAYLOAD_BYTES, onUser: (r) => progress.user(r) });
    progress.done();
    for (const p of summary.problems) process.stderr.write(`skipped: ${p.owner ?? '?'}${p.node ? ` node ${p.node}` : ''} (${p.where}): ${p.message}\n`);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `${dryRun ? 'dry run (nothing written): would import' : 'imported'} ${summary.itemsImported} item(s) of ${summary.users} account(s) from ${source.label} ` +
        `in ${seconds} s; nodes: ${summary.nodesCreated} new, ${summary.nodesExisting} existing, ${summary.nodesSkipped} skipped; ${summary.itemsUnchanged} item(s) already there` +
        `${summary.itemsSuperseded ? `; ${summary.itemsSuperseded} item(s) older than the broker's newest in existing nodes, not imported` : ''}\n`,
    );
    return summary.problems.length > 0 ? 3 : 0;
  });
}

runCli('import', main);
