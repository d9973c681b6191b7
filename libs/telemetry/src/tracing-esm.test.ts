import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startTracing } from './tracing';

// An ESM import of pg evaluated AFTER startTracing is patched too (Node 20 + tsx load CommonJS
// packages imported from ESM through the CommonJS loader, where the require hook sits). What breaks
// tracing is order, not syntax: a static `import pg from 'pg'` in the entry module (or any module it
// imports before tracing starts) is evaluated before startTracing runs. (Own file, own process.)
const exporter = new InMemorySpanExporter();
const processor = new SimpleSpanProcessor(exporter);
const tracing = startTracing({ serviceName: 'esm-test', env: {}, spanProcessors: [processor] });
after(() => tracing.shutdown());

it('traces pg imported as ESM after tracing started', async () => {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  let traceId = '';
  await tracing.tracer.startActiveSpan('parent', async (span) => {
    traceId = span.spanContext().traceId;
    try {
      await client.connect();
      await client.query('SELECT 1');
    } finally {
      span.end();
    }
  });
  await client.end();
  await processor.forceFlush();
  const query = exporter.getFinishedSpans().find((s) => s.name.startsWith('pg.query'));
  assert.equal(query?.spanContext().traceId, traceId);
});
