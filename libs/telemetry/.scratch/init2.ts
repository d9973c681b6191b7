import { createRequire } from 'node:module';
const r = createRequire(import.meta.url);
const m = r.cache[r.resolve('pg')];
console.log('at init: in cache', !!m, 'loaded', m?.loaded, 'exports keys', m ? Object.keys(m.exports).length : -1);
