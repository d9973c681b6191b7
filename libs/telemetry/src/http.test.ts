import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import { startOpsServer } from './http';
import type { OpsServer } from './http';
import { createLogger } from './logger';
import { createMetrics } from './metrics';

const logLines: Record<string, unknown>[] = [];
const logger = createLogger({ service: 'ops-test', destination: { write: (l: string) => void logLines.push(JSON.parse(l)) } });
const metrics = createMetrics({ service: 'ops-test' });
let natsUp = false;
let server: OpsServer;

before(async () => {
  server = await startOpsServer({
    port: 0,
    registry: metrics.registry,
    logger,
    checks: { ready: [{ name: 'nats', check: () => natsUp }] },
    checkTimeoutMs: 50,
  });
});
after(() => server.close());

async function get(path: string) {
  const res = await fetch(`${server.url}${path}`);
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, type, body: type.startsWith('application/json') ? await res.json() : await res.text() };
}

it('listens on an ephemeral port on 127.0.0.1', () => {
  assert.ok(server.port > 0);
  assert.equal(server.url, `http://127.0.0.1:${server.port}`);
});

it('answers /healthz while the process lives', async () => {
  assert.deepEqual(await get('/healthz'), { status: 200, type: 'application/json; charset=utf-8', body: { status: 'ok' } });
});

it('flips /readyz from 503 naming the failing checks to 200', async () => {
  const notReady = await get('/readyz');
  assert.equal(notReady.status, 503);
  assert.deepEqual(notReady.body, { status: 'not-ready', failing: ['nats'], checks: { nats: 'failed' } });

  natsUp = true;
  const ready = await get('/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.body, { status: 'ready', checks: { nats: 'ok' } });
  assert.deepEqual(
    logLines.filter((l) => l.component === 'ops-http' && l.msg !== 'ops server listening').map((l) => l.msg),
    ['not ready', 'ready'],
  );
});

it('takes readiness checks added after start, and their removal', async () => {
  let dbUp = false;
  const remove = server.addReadyCheck('postgres', async () => dbUp);
  assert.throws(() => server.addReadyCheck('postgres', () => true), { name: 'DuplicateCheckError' });
  assert.deepEqual((await get('/readyz')).body, { status: 'not-ready', failing: ['postgres'], checks: { nats: 'ok', postgres: 'failed' } });
  dbUp = true;
  assert.equal((await get('/readyz')).status, 200);
  remove();
  assert.deepEqual((await get('/readyz')).body, { status: 'ready', checks: { nats: 'ok' } });
});

it('counts throwing and hanging checks as failing', async () => {
  const removeThrowing = server.addReadyCheck('throws', () => {
    throw new Error('boom');
  });
  const removeHanging = server.addReadyCheck('hangs', () => new Promise<boolean>(() => {}));
  const res = await get('/readyz');
  assert.equal(res.status, 503);
  assert.deepEqual(res.body, { status: 'not-ready', failing: ['throws', 'hangs'], checks: { nats: 'ok', throws: 'error', hangs: 'timeout' } });
  removeThrowing();
  removeHanging();
});

it('serves the registry as Prometheus text on /metrics', async () => {
  metrics.counter('dbroker_test_requests_total', 'Test requests', ['kind']).inc({ kind: 'iq' }, 3);
  const res = await get('/metrics');
  assert.equal(res.status, 200);
  assert.match(res.type, /^text\/plain; version=0\.0\.4/);
  assert.match(String(res.body), /^dbroker_test_requests_total\{kind="iq",service="ops-test"\} 3$/m);
  assert.match(String(res.body), /^dbroker_process_resident_memory_bytes\{service="ops-test"\} \d+/m);
});

it('answers /healthz with 503 when the liveness check fails', async () => {
  const sick = await startOpsServer({ port: 0, registry: metrics.registry, logger, checks: { live: () => false } });
  try {
    const res = await fetch(`${sick.url}/healthz`);
    assert.equal(res.status, 503);
  } finally {
    await sick.close();
  }
});
