import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startNatsServer } from '../../../test/harness/nats-server';
import { connectBus } from './connection';
import { decodeOutbound, decodeOutboundAck, encodeEnvelope, type OutboundEnvelope } from './envelope';
import { sendPrivilegedMessage } from './outbound';
import { outboundSubject } from './subjects';

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const env: OutboundEnvelope = { v: 1, kind: 'message', stanza: `<message xmlns='jabber:client' from='alice@localhost' to='bob@localhost'/>`, worker: 'mam-1', requestId: 'r1' };

test('outbound envelope and ack: round trip, rejected shapes', () => {
  assert.deepEqual(decodeOutbound(encodeEnvelope(env)), { ok: true, value: env });
  const { requestId: _r, ...noRequest } = env;
  assert.ok(decodeOutbound(encodeEnvelope(noRequest)).ok, 'requestId is optional');
  for (const bad of [{ ...env, kind: 'iq' }, { ...env, v: 2 }, { ...env, stanza: '' }, { ...env, worker: undefined }]) {
    assert.ok(!decodeOutbound(new TextEncoder().encode(JSON.stringify(bad))).ok, JSON.stringify(bad));
  }
  assert.deepEqual(decodeOutboundAck(encodeEnvelope({ v: 1, ok: true })), { ok: true, value: { v: 1, ok: true } });
  const refused = { v: 1 as const, ok: false as const, error: 'forbidden' as const, reason: 'not a local user' };
  assert.deepEqual(decodeOutboundAck(encodeEnvelope(refused)), { ok: true, value: refused });
  const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
  assert.ok(!decodeOutboundAck(enc({ v: 1, ok: false, error: 'nope', reason: 'x' })).ok, 'unknown error code');
  assert.ok(!decodeOutboundAck(enc({ v: 1, ok: false, error: 'offline' })).ok, 'a refusal carries a reason');
  assert.equal(outboundSubject('xmpp', 'example.org'), 'xmpp.out.example_2eorg');
});

test('sendPrivilegedMessage: ack passed through; no ingress, silence, garbage and bad envelopes become failures', async () => {
  await using nats = await startNatsServer();
  const bus = await connectBus({ url: nats.url, name: 'test', logger: silent });
  try {
    const subject = outboundSubject('t', 'localhost');
    const none = await sendPrivilegedMessage(bus.nc, subject, env, 1000);
    assert.equal(none.ok, false);
    assert.ok(!none.ok && none.error === 'offline' && /no responders/.test(none.reason), JSON.stringify(none));

    const seen: OutboundEnvelope[] = [];
    const sub = bus.nc.subscribe(subject, {
      callback: (_e, msg) => {
        const d = decodeOutbound(msg.data);
        assert.ok(d.ok);
        seen.push(d.value);
        if (d.value.requestId === 'silent') return;
        if (d.value.requestId === 'garbage') {
          msg.respond('{"v":1}');
          return;
        }
        msg.respond(encodeEnvelope(d.value.worker === 'refuse-me' ? { v: 1, ok: false, error: 'no-permission', reason: 'message=none' } : { v: 1, ok: true }));
      },
    });
    await bus.nc.flush();
    assert.deepEqual(await sendPrivilegedMessage(bus.nc, subject, env, 2000), { v: 1, ok: true });
    assert.deepEqual(await sendPrivilegedMessage(bus.nc, subject, { ...env, worker: 'refuse-me' }, 2000), { v: 1, ok: false, error: 'no-permission', reason: 'message=none' });
    const silent = await sendPrivilegedMessage(bus.nc, subject, { ...env, requestId: 'silent' }, 200);
    assert.ok(!silent.ok && silent.error === 'offline' && /may or may not/.test(silent.reason), JSON.stringify(silent));
    const garbage = await sendPrivilegedMessage(bus.nc, subject, { ...env, requestId: 'garbage' }, 2000);
    assert.ok(!garbage.ok && garbage.error === 'offline' && /invalid ack/.test(garbage.reason), JSON.stringify(garbage));
    const before = seen.length;
    const bad = await sendPrivilegedMessage(bus.nc, subject, { ...env, kind: 'iq' } as unknown as OutboundEnvelope, 2000);
    assert.ok(!bad.ok && bad.error === 'bad-request' && /kind/.test(bad.reason), JSON.stringify(bad));
    assert.equal(seen.length, before, 'an invalid envelope is never sent');
    sub.unsubscribe();
  } finally {
    await bus.nc.close();
  }
});
