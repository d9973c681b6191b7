import { createRequire } from 'node:module';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { currentTraceId, resolveTraceExportMode, startTracing, TelemetryConfigError } from './tracing';

// Nothing above may load `pg`: the pg instrumentation patches it when it is first required, so tracing
// must start first. node --test runs each test file in its own process, which keeps that true here.
const exporter = new InMemorySpanExporter();
const processor = new SimpleSpanProcessor(exporter);
const tracing = startTracing({ serviceName: 'telemetry-test', env: {}, spanProcessors: [processor] });
after(() => tracing.shutdown());

// The way our libs load pg: a CommonJS require, which goes through the instrumentation's require hook.
const pg = createRequire(import.meta.url)('pg') as typeof import('pg');
const connection = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };

async function finishedSpans() {
  await processor.forceFlush(); // SimpleSpanProcessor exports asynchronously
  const spans = exporter.getFinishedSpans();
  exporter.reset();
  return spans;
}

describe('startTracing', () => {
  it('traces pg queries loaded with createRequire as children of the active span', async () => {
    const client = new pg.Client(connection);
    let parentTraceId = '';
    let parentSpanId = '';
    await tracing.tracer.startActiveSpan('parent', async (span) => {
      parentTraceId = span.spanContext().traceId;
      parentSpanId = span.spanContext().spanId;
      assert.equal(currentTraceId(), parentTraceId);
      try {
        await client.connect();
        await client.query('SELECT $1::int AS one', [1]);
      } finally {
        span.end();
      }
    });
    await client.end();

    const spans = await finishedSpans();
    const query = spans.find((s) => s.name.startsWith('pg.query'));
    assert.ok(query, `no pg.query span among ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(query.name, 'pg.query:SELECT postgres');
    assert.equal(query.spanContext().traceId, parentTraceId);
    assert.equal(query.parentSpanContext?.spanId, parentSpanId);
    // instrumentation-pg 0.76 emits the stable database semantic conventions; with
    // enhancedDatabaseReporting off there are no parameter values, only the statement text.
    assert.equal(query.attributes['db.system.name'], 'postgresql');
    assert.equal(query.attributes['db.query.text'], 'SELECT $1::int AS one');
    assert.equal(query.attributes['db.postgresql.values'], undefined);
    assert.equal(query.resource.attributes['service.name'], 'telemetry-test');
  });

  it('records no pg spans without a parent span (requireParentSpan)', async () => {
    const pool = new pg.Pool(connection);
    await pool.query('SELECT 1');
    await pool.end();
    assert.deepEqual((await finishedSpans()).map((s) => s.name), []);
  });

  it('joins the running tracing when called again in the same process', async () => {
    const again = startTracing({ serviceName: 'other-service', env: { OTEL_TRACES_EXPORTER: 'console' } });
    assert.equal(again.tracer, tracing.tracer);
    assert.equal(again.serviceName, 'telemetry-test');
    assert.deepEqual(again.mode, { kind: 'local' });
    await again.shutdown();
    await again.shutdown(); // releasing a handle twice does not release another one

    // the first handle still traces
    again.tracer.startActiveSpan('still-traced', (span) => span.end());
    assert.deepEqual((await finishedSpans()).map((s) => s.name), ['still-traced']);
  });

  it('has no trace id outside a span', () => {
    assert.equal(currentTraceId(), undefined);
  });
});

describe('resolveTraceExportMode', () => {
  it('exports nothing by default but keeps a real provider', () => {
    assert.deepEqual(resolveTraceExportMode({}), { kind: 'local' });
    assert.deepEqual(resolveTraceExportMode({ OTEL_TRACES_EXPORTER: '' }), { kind: 'local' });
    assert.deepEqual(resolveTraceExportMode({ OTEL_TRACES_EXPORTER: 'none' }), { kind: 'local' });
    assert.deepEqual(resolveTraceExportMode({ OTEL_TRACES_EXPORTER: 'console,none' }), { kind: 'local' });
  });

  it('is disabled by OTEL_SDK_DISABLED=true only', () => {
    assert.deepEqual(resolveTraceExportMode({ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' }), {
      kind: 'disabled',
    });
    assert.equal(resolveTraceExportMode({ OTEL_SDK_DISABLED: 'false' }).kind, 'local');
    assert.equal(resolveTraceExportMode({ OTEL_SDK_DISABLED: '1' }).kind, 'local');
  });

  it('exports OTLP as soon as an endpoint is configured', () => {
    assert.deepEqual(resolveTraceExportMode({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), {
      kind: 'export',
      exporters: ['otlp'],
      protocol: 'http/protobuf',
    });
    assert.deepEqual(
      resolveTraceExportMode({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4317',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
      }),
      { kind: 'export', exporters: ['otlp'], protocol: 'grpc' },
    );
  });

  it('takes the exporters listed in OTEL_TRACES_EXPORTER', () => {
    assert.deepEqual(resolveTraceExportMode({ OTEL_TRACES_EXPORTER: ' otlp , console,otlp' }), {
      kind: 'export',
      exporters: ['otlp', 'console'],
      protocol: 'http/protobuf',
    });
  });

  it('rejects unknown exporters and protocols', () => {
    assert.throws(() => resolveTraceExportMode({ OTEL_TRACES_EXPORTER: 'jaeger' }), TelemetryConfigError);
    assert.throws(
      () => resolveTraceExportMode({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http' }),
      TelemetryConfigError,
    );
  });
});
