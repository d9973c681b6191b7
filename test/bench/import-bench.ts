// `node --import tsx test/bench/import-bench.ts [--users U] [--items N]`: the time `npm run import` takes
// for U accounts × N items (one node each, max_items max) in Prosody 0.12 file storage, written in the
// format Prosody writes (util/serialization; see libs/pep-import/src/prosody-files.ts), into a throw-away
// database on the local Postgres. Runs the real CLI twice: the import, then the idempotent re-run.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { promisify } from 'node:util';
import { encodeDm, encodeStore } from '../../libs/pep-import/src/prosody-files';
import { luaString } from '../harness/prosody';
import { createTempDatabase } from '../harness/postgres';

const { values } = parseArgs({ options: { users: { type: 'string', default: '1000' }, items: { type: 'string', default: '100' } } });
const users = Number(values.users);
const items = Number(values.items);
const HOST = 'example.org';
const NODE = 'urn:example:bench';
const ROOT = new URL('../../', import.meta.url).pathname;

const dir = await mkdtemp(join(tmpdir(), 'dbroker-import-bench-'));
const temp = await createTempDatabase('dbroker_import_bench');
try {
  const hostDir = join(dir, encodeDm(HOST));
  await mkdir(join(hostDir, 'pep'), { recursive: true });
  await mkdir(join(hostDir, encodeStore(`pep_${NODE}`)), { recursive: true });
  const when = Math.floor(Date.now() / 1000) - 86_400;
  for (let u = 0; u < users; u++) {
    const user = `user${u}`;
    await writeFile(
      join(hostDir, 'pep', `${encodeDm(user)}.dat`),
      `return {\n\t[${luaString(NODE)}] = {\n\t\t["name"] = ${luaString(NODE)};\n\t\t["config"] = { ["max_items"] = "max"; ["access_model"] = "open"; };\n\t\t["subscribers"] = {};\n\t\t["affiliations"] = {};\n\t};\n};\n`,
    );
    let list = '';
    for (let i = 0; i < items; i++) {
      list += `item({\n\t{ ["name"] = "title"; ["attr"] = {}; ${luaString(`entry ${i} of ${user}: ${'x'.repeat(200)}`)}; };\n\t["name"] = "entry";\n\t["attr"] = { ["xmlns"] = "http://www.w3.org/2005/Atom"; ["stamp"] = "2026-01-01T00:00:00Z"; };\n\t["key"] = "item-${i}";\n\t["when"] = ${when + i};\n\t["with"] = ${luaString(`${user}@${HOST}`)};\n});\n`;
    }
    await writeFile(join(hostDir, encodeStore(`pep_${NODE}`), `${encodeDm(user)}.list`), list);
  }
  const run = async (label: string) => {
    const t0 = performance.now();
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'libs/pep-import/src/cli/import.ts', '--from', 'prosody', '--data-path', dir, '--host', HOST], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: temp.url },
      maxBuffer: 64 * 1024 * 1024,
    });
    const s = (performance.now() - t0) / 1000;
    console.log(`${label}: ${s.toFixed(1)} s wall (${Math.round((users * items) / s)} items/s) — ${r.stdout.trim()}`);
  };
  console.log(`${users} accounts × ${items} items = ${users * items} items, Postgres ${temp.url.replace(/\/\/[^@]*@/, '//')}`);
  await run('import');
  await run('re-run (idempotent)');
} finally {
  await temp.drop();
  await rm(dir, { recursive: true, force: true });
}
