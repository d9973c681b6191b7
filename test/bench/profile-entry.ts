// Runs one service under the V8 sampling profiler and writes a .cpuprofile after PROF_MS (default 20 s).
// With the benchmark:  PROF_TARGET=services/pep/src/main.ts BENCH_PROFILE_SERVICE=pep \
//   BENCH_BROKER_ENTRY=test/bench/profile-entry.ts npm run bench -- --phases b --mode separate
// The profile (PROF_OUT, default /tmp/<service>.cpuprofile) opens in Chrome DevTools or speedscope.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

const target = resolve(process.env.PROF_TARGET ?? 'services/all-in-one/src/main.ts');
const out = process.env.PROF_OUT ?? `/tmp/${basename(dirname(dirname(target)))}.cpuprofile`;
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 500 });
// PROF_START_MS: leave start-up and warm-up out of the profile
const startAfter = Number(process.env.PROF_START_MS ?? 0);
setTimeout(() => void session.post('Profiler.start'), startAfter).unref();
setTimeout(() => {
  void session.post('Profiler.stop').then(({ profile }) => {
    writeFileSync(out, JSON.stringify(profile));
    process.stderr.write(`cpu profile written to ${out}\n`);
  });
}, startAfter + Number(process.env.PROF_MS ?? 20_000)).unref();
await import(target);
