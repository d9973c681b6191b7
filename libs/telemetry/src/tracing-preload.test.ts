import { createRequire } from 'node:module';
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startTracing } from './tracing';

// Documents the ordering rule: pg required BEFORE startTracing is not patched. (Own file, own process.)
const require = createRequire(import.meta.url);
const earlyPg = require('pg') as typeof import('pg');

const warnings: Error[] = [];
process.on('warning', (w) => warnings.push(w));

const exporter = new InMemorySpanExporter();
const processor = new SimpleSpanProcessor(exporter);
const tracing = startTracing({ serviceName: 'preload-test', env: {}, spanProcessors: [processor] });
after(() => tracing.shutdown());

async function spanNamesOfQuery(pg: typeof import('pg')): Promise<string[]> {
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  await tracing.tracer.startActiveSpan('parent', async (span) => {
    try {
      await client.connect();
      await client.query('SELECT 1');
    } finally {
      span.end();
    }
  });
  await client.end();
  await processor.forceFlush();
  const names = exporter.getFinishedSpans().map((s) => s.name);
  exporter.reset();
  return names;
}

it('warns when pg was loaded before tracing started', async () => {
  await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
  assert.ok(warnings.some((w) => (w as { code?: string }).code === 'DBROKER_TELEMETRY_PG_PRELOADED'));
});

it('does not trace a pg loaded before startTracing', async () => {
  assert.deepEqual(await spanNamesOfQuery(earlyPg), ['parent']);
});

it('patches pg (shared prototypes included) once it is required again after startTracing', async () => {
  const latePg = require('pg') as typeof import('pg');
  assert.equal(latePg, earlyPg);
  assert.deepEqual(await spanNamesOfQuery(earlyPg), ['pg.connect', 'pg.query:SELECT postgres', 'parent']);
});
