import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { currentTraceId, startTracing } from './tracing';

// Checks what sdk-node 0.223 does with the OTEL_* variables we delegate to it. sdk-node and the OTLP
// exporters read process.env themselves, so this file sets it (own file, own process).
interface Received {
  path: string | undefined;
  contentType: string | undefined;
  body: string;
}
const received: Received[] = [];
const collector = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    received.push({ path: req.url, contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString() });
    res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/json' }).end();
  });
});
let endpoint = '';
before(async () => {
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => collector.close(() => resolve())));

const OTEL_KEYS = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_TRACES_EXPORTER', 'OTEL_SERVICE_NAME'];
function withEnv(vars: Record<string, string>): void {
  for (const key of OTEL_KEYS) delete process.env[key];
  Object.assign(process.env, vars);
}

async function traceOneSpan(vars: Record<string, string>) {
  withEnv(vars);
  received.length = 0;
  const tracing = startTracing({ serviceName: 'export-test', instrumentPg: false });
  let traceId: string | undefined;
  tracing.tracer.startActiveSpan('work', (span) => {
    traceId = currentTraceId();
    span.end();
  });
  await tracing.shutdown(); // flushes the batch processor
  return { tracing, traceId };
}

it('exports nothing without OTEL_* variables, yet has trace ids', async () => {
  const { tracing, traceId } = await traceOneSpan({});
  assert.deepEqual(tracing.mode, { kind: 'local' });
  assert.match(traceId ?? '', /^[0-9a-f]{32}$/);
  assert.deepEqual(received, []);
});

it('exports OTLP http/protobuf to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces', async () => {
  const { tracing } = await traceOneSpan({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
  assert.deepEqual(tracing.mode, { kind: 'export', exporters: ['otlp'], protocol: 'http/protobuf' });
  assert.equal(received.length, 1);
  assert.equal(received[0]?.path, '/v1/traces');
  assert.equal(received[0]?.contentType, 'application/x-protobuf');
});

it('exports OTLP http/json when OTEL_EXPORTER_OTLP_PROTOCOL says so, naming OTEL_SERVICE_NAME', async () => {
  const { tracing } = await traceOneSpan({
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'renamed',
  });
  assert.equal(tracing.serviceName, 'renamed');
  assert.equal(received.length, 1);
  assert.equal(received[0]?.contentType, 'application/json');
  assert.match(received[0]?.body ?? '', /"service\.name","value":\{"stringValue":"renamed"\}/);
});

it('is a no-op with OTEL_SDK_DISABLED=true', async () => {
  const { tracing, traceId } = await traceOneSpan({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
  delete process.env.OTEL_SDK_DISABLED;
  assert.deepEqual(tracing.mode, { kind: 'disabled' });
  assert.equal(traceId, undefined);
  assert.deepEqual(received, []);
});
