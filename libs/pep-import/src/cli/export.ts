/**
 * `npm run export -- --user alice@example.org --file alice.xml` or `npm run export -- --all --file all.xml`:
 * writes PEP data from the broker's database (DATABASE_URL, or the embedded PGlite of `npm start`) as
 * XEP-0227. Exit codes: 0 done, 1 failed, 2 bad usage or configuration.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { createPgPubsubStorage } from '@dbroker/pubsub';
import { accountJid } from '@dbroker/protocol';
import { exportXep0227, listServices } from '../export';
import { loadPepImportConfig } from './config';
import { UsageError, runCli, usageExit, withMigratedDatabase } from './run';

const USAGE = 'usage: npm run export -- (--user JID [--user JID ...] | --all) --file FILE.xml';

async function main(argv: string[]): Promise<number> {
  let users: string[];
  let all: boolean;
  let file: string;
  let config;
  try {
    const { values } = parseArgs({ args: argv, options: { user: { type: 'string', multiple: true }, all: { type: 'boolean', default: false }, file: { type: 'string' } }, strict: true });
    users = (values.user ?? []).map((u) => accountJid(u.trim()));
    all = values.all === true;
    if (typeof values.file !== 'string' || (all ? users.length > 0 : users.length === 0)) throw new UsageError(all ? '--all takes no --user' : 'give --file and --user or --all');
    if (users.some((u) => !/^[^@/]+@[^@/]+$/.test(u))) throw new UsageError('--user takes a valid bare JID (local@domain)');
    file = values.file;
    config = loadPepImportConfig(process.env);
  } catch (err) {
    return usageExit(err, USAGE);
  }
  return withMigratedDatabase(config, 2, async (handle) => {
    const storage = createPgPubsubStorage(handle.raw);
    const services = all ? await listServices(handle.raw) : users;
    const out = createWriteStream(file, { encoding: 'utf8' });
    const write = async (chunk: string) => {
      if (!out.write(chunk)) await once(out, 'drain');
    };
    const result = await exportXep0227(storage, services, write);
    out.end();
    await once(out, 'finish');
    process.stdout.write(`exported ${result.items} item(s) of ${result.users} account(s) to ${file}\n`);
    return 0;
  });
}

runCli('export', main);
