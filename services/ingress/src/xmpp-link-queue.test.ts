import assert from 'node:assert/strict';
import { test } from 'node:test';
import xml from '@xmpp/xml';
import { startFakeXmppServer } from '../../../test/harness/fake-xmpp-server';
import { DEFAULT_XML_LIMITS } from '@dbroker/protocol';
import { createXmppLink } from './xmpp-link';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

test('the outbound queue of a link that is down is bounded in bytes: the oldest stanzas go, the rest are sent in order', async () => {
  const server = await startFakeXmppServer({ domain: 'pubsub.localhost', secret: 's3cret' });
  let dropped = 0;
  const link = createXmppLink({
    service: server.service,
    domain: 'pubsub.localhost',
    secret: 's3cret',
    server: 'localhost',
    logger: silent,
    pingIntervalMs: 30_000,
    pingTimeoutMs: 10_000,
    reconnectInitialMs: 50,
    reconnectMaxMs: 200,
    outboundQueueMax: 10_000,
    outboundQueueMaxBytes: 10_000,
    xmlLimits: DEFAULT_XML_LIMITS,
    onDropped: (n) => (dropped += n),
  });
  try {
    const stanza = (i: number) => xml('message', { to: 'alice@localhost', id: `m${i}` }, xml('body', {}, 'x'.repeat(1000)));
    const size = Buffer.byteLength(stanza(10).toString());
    for (let i = 10; i < 60; i++) link.send(stanza(i)); // offline: queued
    const kept = Math.floor(10_000 / size);
    assert.equal(dropped, 50 - kept);
    // a stanza larger than the whole bound is not queued at all
    link.send(xml('message', { id: 'huge' }, xml('body', {}, 'y'.repeat(20_000))));
    assert.equal(dropped, 50 - kept + 1);
    link.start();
    await server.waitForConnection();
    await server.waitFor((el) => el.attrs.id === 'm59');
    const ids = server.received.filter((el) => el.name === 'message').map((el) => el.attrs.id);
    assert.deepEqual(ids, Array.from({ length: kept }, (_, i) => `m${60 - kept + i}`));
  } finally {
    await link.stop();
    await server.stop();
  }
});
