import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer } from '../../../test/harness/nats-server';
import { connectBus } from './connection';
import { requestIq } from './iq-request';
import { decodeIqRequest, encodeStateEnvelope, type IqRequestEnvelope } from './state-envelopes';
import { iqSubject } from './subjects';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const env: IqRequestEnvelope = { v: 1, kind: 'roster-get', to: 'alice@localhost', worker: 'pep-1', timeoutMs: 1000 };

test('requestIq: answers passed through; no ingress, silence, garbage and bad envelopes become failures', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'test', logger: silent });
  try {
    const subject = iqSubject('t', 'localhost');
    assert.equal(subject, 't.iq.localhost');
    const none = await requestIq(bus.nc, subject, env, 1000);
    assert.ok(!none.ok && none.error === 'offline' && /no responders/.test(none.reason), JSON.stringify(none));

    const seen: IqRequestEnvelope[] = [];
    const sub = bus.nc.subscribe(subject, {
      callback: (_e, msg) => {
        const d = decodeIqRequest(msg.data);
        assert.ok(d.ok);
        seen.push(d.value);
        if (d.value.worker === 'silent') return;
        if (d.value.worker === 'garbage') return void msg.respond('{"v":1,"ok":true}');
        if (d.value.worker === 'refuse-me') return void msg.respond(encodeStateEnvelope({ v: 1, ok: false, error: 'no-permission', reason: 'roster none' }));
        msg.respond(encodeStateEnvelope({ v: 1, ok: true, stanza: `<iq type='result' id='x' from='${d.value.to}'/>` }));
      },
    });
    await bus.nc.flush();
    assert.deepEqual(await requestIq(bus.nc, subject, env, 2000), { v: 1, ok: true, stanza: `<iq type='result' id='x' from='alice@localhost'/>` });
    assert.deepEqual(await requestIq(bus.nc, subject, { ...env, worker: 'refuse-me' }, 2000), { v: 1, ok: false, error: 'no-permission', reason: 'roster none' });
    const quiet = await requestIq(bus.nc, subject, { ...env, worker: 'silent' }, 200);
    assert.ok(!quiet.ok && quiet.error === 'timeout' && /within 200 ms/.test(quiet.reason), JSON.stringify(quiet));
    const garbage = await requestIq(bus.nc, subject, { ...env, worker: 'garbage' }, 2000);
    assert.ok(!garbage.ok && garbage.error === 'offline' && /invalid answer/.test(garbage.reason), JSON.stringify(garbage));
    const before = seen.length;
    for (const bad of [{ ...env, kind: 'roster-set' }, { ...env, timeoutMs: 0 }, { ...env, to: '' }, { ...env, v: 2 }]) {
      const r = await requestIq(bus.nc, subject, bad as unknown as IqRequestEnvelope, 2000);
      assert.ok(!r.ok && r.error === 'bad-request', JSON.stringify(r));
    }
    assert.equal(seen.length, before, 'an invalid envelope is never sent');
    sub.unsubscribe();
    await bus.nc.close();
    const closed = await requestIq(bus.nc, subject, env, 500);
    assert.ok(!closed.ok && closed.error === 'offline' && /bus unavailable/.test(closed.reason), JSON.stringify(closed));
  } finally {
    if (!bus.nc.isClosed()) await bus.nc.close();
  }
});
