import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from './logger';
import { startTracing } from './tracing';

const tracing = startTracing({ serviceName: 'logger-test', env: {}, instrumentPg: false });
after(() => tracing.shutdown());

function capture() {
  const lines: Record<string, unknown>[] = [];
  return { lines, destination: { write: (line: string) => void lines.push(JSON.parse(line)) } };
}

it('writes JSON lines with service, ISO time and a level label', () => {
  const { lines, destination } = capture();
  createLogger({ service: 'pep', destination }).info({ node: 'urn:x' }, 'published');
  assert.equal(lines.length, 1);
  const line = lines[0] ?? {};
  assert.equal(line.service, 'pep');
  assert.equal(line.level, 'info');
  assert.equal(line.msg, 'published');
  assert.equal(line.node, 'urn:x');
  assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(line.trace_id, undefined);
  assert.equal(line.span_id, undefined);
});

it('adds trace_id and span_id of the active span, in children too', async () => {
  const { lines, destination } = capture();
  const logger = createLogger({ service: 'ingress', destination });
  const child = logger.child({ component: 'router' });
  let ids = { traceId: '', spanId: '' };
  await tracing.tracer.startActiveSpan('iq', async (span) => {
    ids = span.spanContext();
    await Promise.resolve();
    child.info('routed');
    span.end();
  });
  logger.info('after');
  assert.equal(lines[0]?.trace_id, ids.traceId);
  assert.equal(lines[0]?.span_id, ids.spanId);
  assert.equal(lines[0]?.component, 'router');
  assert.equal(lines[1]?.trace_id, undefined);
});

it('honours the level passed by the caller', () => {
  const { lines, destination } = capture();
  const logger = createLogger({ service: 'projector', level: 'warn', destination });
  logger.info('hidden');
  logger.warn('shown');
  assert.deepEqual(lines.map((l) => l.msg), ['shown']);
});
