import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics, MetricConflictError } from './metrics';

it('registers default process metrics with the dbroker_ prefix and a service label', async () => {
  const metrics = createMetrics({ service: 'pep' });
  const text = await metrics.registry.metrics();
  assert.match(text, /^dbroker_process_cpu_user_seconds_total\{service="pep"\} /m);
  assert.match(text, /^dbroker_nodejs_eventloop_lag_seconds\{service="pep"\} /m);
});

it('returns the existing metric when asked twice for the same name', async () => {
  const metrics = createMetrics({ service: 'pep' });
  const a = metrics.counter('dbroker_pep_publish_total', 'Items published', ['outcome']);
  const b = metrics.counter('dbroker_pep_publish_total', 'Items published', ['outcome']);
  assert.equal(a, b);
  a.inc({ outcome: 'ok' });
  b.inc({ outcome: 'ok' });
  assert.match(await metrics.registry.metrics(), /^dbroker_pep_publish_total\{outcome="ok",service="pep"\} 2$/m);

  const h = metrics.histogram('dbroker_pep_publish_seconds', 'Publish latency', [], [0.01, 0.1, 1]);
  assert.equal(metrics.histogram('dbroker_pep_publish_seconds', 'Publish latency', [], [0.01, 0.1, 1]), h);
  h.observe(0.05);
  assert.match(await metrics.registry.metrics(), /^dbroker_pep_publish_seconds_bucket\{le="0.1",service="pep"\} 1$/m);

  const g = metrics.gauge('dbroker_pep_subscribers', 'Subscribers', ['node']);
  assert.equal(metrics.gauge('dbroker_pep_subscribers', 'Subscribers', ['node']), g);
});

it('shares one registry between services (all-in-one) without registering anything twice', async () => {
  const process = createMetrics({ service: 'all-in-one' });
  const pep = createMetrics({ service: 'pep', registry: process.registry });
  const projector = createMetrics({ service: 'projector', registry: process.registry });
  assert.equal(pep.registry, process.registry);
  const fromPep = pep.counter('dbroker_nats_messages_total', 'NATS messages', ['subject']);
  assert.equal(projector.counter('dbroker_nats_messages_total', 'NATS messages', ['subject']), fromPep);
  const text = await process.registry.metrics();
  assert.equal(text.match(/^# TYPE dbroker_process_cpu_user_seconds_total /gm)?.length, 1);
  assert.match(text, /^dbroker_process_cpu_user_seconds_total\{service="all-in-one"\} /m);
});

it('refuses the same name with another type or other labels', () => {
  const metrics = createMetrics({ service: 'pep' });
  metrics.counter('dbroker_pep_items_total', 'Items', ['node']);
  assert.throws(() => metrics.gauge('dbroker_pep_items_total', 'Items', ['node']), MetricConflictError);
  assert.throws(() => metrics.counter('dbroker_pep_items_total', 'Items', ['jid']), MetricConflictError);
  assert.throws(() => metrics.counter('dbroker_pep_items_total', 'Items'), MetricConflictError);
});
