import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startOtlpCollector, otlpEnv } from './otlp-collector';

const execFileAsync = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

test('collects spans from the real OpenTelemetry NodeSDK configured only through env', async () => {
  await using collector = await startOtlpCollector();
  // A child process, like a service: NodeSDK reads OTEL_* itself; a parent span and a child span.
  const script = `
    import { NodeSDK } from '@opentelemetry/sdk-node';
    import { trace, SpanKind } from '@opentelemetry/api';
    const sdk = new NodeSDK({ instrumentations: [] });
    sdk.start();
    const tracer = trace.getTracer('probe');
    tracer.startActiveSpan('iq pubsub set', { kind: SpanKind.SERVER, attributes: { 'xmpp.ns': 'http://jabber.org/protocol/pubsub', n: 3 } }, (parent) => {
      tracer.startSpan('nats publish', { kind: SpanKind.PRODUCER }).end();
      parent.end();
    });
    await sdk.shutdown();
  `;
  await execFileAsync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: repoRoot,
    env: { ...process.env, ...otlpEnv(collector.url, 'probe-service') },
    timeout: 20_000,
  });
  const spans = await collector.waitUntil((all) => all.length >= 2, 5_000);
  const parent = spans.find((s) => s.name === 'iq pubsub set')!;
  const child = spans.find((s) => s.name === 'nats publish')!;
  assert.match(parent.traceId, /^[0-9a-f]{32}$/);
  assert.match(parent.spanId, /^[0-9a-f]{16}$/);
  assert.equal(child.traceId, parent.traceId);
  assert.equal(child.parentSpanId, parent.spanId);
  assert.equal(parent.parentSpanId, undefined);
  assert.equal(parent.service, 'probe-service');
  assert.equal(parent.kindName, 'server');
  assert.equal(child.kindName, 'producer');
  assert.deepEqual(parent.attributes, { 'xmpp.ns': 'http://jabber.org/protocol/pubsub', n: 3 });
  assert.equal(collector.stats().protobufRejected, 0);
});

test('protobuf bodies are answered 415 and counted; garbage JSON is 400', async () => {
  await using collector = await startOtlpCollector();
  const post = (type: string, body: string | Uint8Array) =>
    fetch(`${collector.url}/v1/traces`, { method: 'POST', headers: { 'content-type': type }, body });
  assert.equal((await post('application/x-protobuf', new Uint8Array([10, 0]))).status, 415);
  assert.equal((await post('application/json', '{"nope":1}')).status, 400);
  const ok = await post('application/json', JSON.stringify({
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
      scopeSpans: [{ scope: { name: 's' }, spans: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', parentSpanId: '', name: 'x', kind: 2, attributes: [{ key: 'k', value: { intValue: '7' } }] }] }],
    }],
  }));
  assert.equal(ok.status, 200);
  assert.deepEqual(collector.stats(), { traceRequests: 1, protobufRejected: 1, badRequests: 1, otherSignals: 0 });
  const span = await collector.waitFor((s) => s.name === 'x', 1_000);
  assert.deepEqual([span.service, span.kind, span.parentSpanId, span.attributes.k], ['svc', 2, undefined, 7]);
  await assert.rejects(collector.waitFor((s) => s.name === 'never', 100), /within 100 ms/);
});
