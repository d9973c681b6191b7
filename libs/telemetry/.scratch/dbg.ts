import { createRequire } from 'node:module';
const r = createRequire(import.meta.url);
const p = r.resolve('pg');
console.log('before import', p, !!r.cache[p]);
await import('../src/tracing');
console.log('after import tracing', !!r.cache[p]);
