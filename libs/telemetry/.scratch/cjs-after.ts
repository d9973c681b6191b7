import { createRequire } from 'node:module';
import { start, run } from './common';
const t = start();
const pg = createRequire(import.meta.url)('pg');
await run(pg, t, 'cjs-after');
await t.shutdown();
