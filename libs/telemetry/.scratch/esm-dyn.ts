import { start, run } from './common';
const t = start();
const pg = (await import('pg')).default;
await run(pg, t, 'esm dynamic import after start');
await t.shutdown();
