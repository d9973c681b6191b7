import { createRequire } from 'node:module';
import { start, run } from './common';
const pg = createRequire(import.meta.url)('pg');
const t = start();
await run(pg, t, 'cjs-before, old ref');
createRequire(import.meta.url)('pg');
await run(pg, t, 'cjs-before, after re-require');
await t.shutdown();
