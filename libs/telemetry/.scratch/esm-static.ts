import pg from 'pg';
import { start, run } from './common';
const t = start();
await run(pg, t, 'esm static import');
await t.shutdown();
