import { t } from './init';
import { pg } from './uses-pg';
import { run } from './common';
await run(pg, t, 'esm static import in module after init module');
await t.shutdown();
