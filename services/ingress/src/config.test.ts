import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@dbroker/config';
import { DEFAULT_XML_LIMITS } from '@dbroker/protocol';
import { loadIngressConfig, xmlLimitsOf } from './config';

test('defaults serve a local server; every bad value is named in one clear error', () => {
  const cfg = loadIngressConfig({});
  assert.equal(cfg.XMPP_SERVICE, 'xmpp://127.0.0.1:5347');
  assert.equal(cfg.REQUEST_TIMEOUT_MS, 5000);
  try {
    loadIngressConfig({ XMPP_SERVICE: 'http://x', XMPP_DOMAIN: 'a@b', REQUEST_TIMEOUT_MS: '5', NATS_URL: 'localhost' });
    assert.fail('accepted bad values');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    for (const name of ['XMPP_SERVICE', 'XMPP_DOMAIN', 'REQUEST_TIMEOUT_MS', 'NATS_URL']) assert.match(err.message, new RegExp(name));
  }
  assert.throws(() => loadIngressConfig({ XMPP_DOMAIN: 'localhost', XMPP_SERVER: 'localhost' }), /XMPP_DOMAIN must differ/);
  assert.throws(() => loadIngressConfig({ PING_INTERVAL_MS: '1000', PING_TIMEOUT_MS: '2000' }), /PING_TIMEOUT_MS/);
});

test('the service refuses to start on bad configuration: exit code 2 and the message on stderr', () => {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', main], { env: { ...process.env, REQUEST_TIMEOUT_MS: 'soon', HTTP_PORT: '0' }, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /invalid configuration for ingress:\n\s+REQUEST_TIMEOUT_MS: .*\(got "soon"\)/);
});

test('parsing limits: documented defaults, the text limit follows MAX_STANZA_BYTES unless set', () => {
  assert.deepEqual(xmlLimitsOf(loadIngressConfig({})), DEFAULT_XML_LIMITS);
  const raised = xmlLimitsOf(loadIngressConfig({ MAX_STANZA_BYTES: '1048576', MAX_STANZA_DEPTH: '64', MAX_STANZA_ELEMENTS: '500', MAX_STANZA_ATTRIBUTES: '16', MAX_ATTRIBUTE_BYTES: '4096' }));
  assert.deepEqual(raised, { maxBytes: 1_048_576, maxDepth: 64, maxElements: 500, maxAttributes: 16, maxAttributeBytes: 4096, maxTextBytes: 1_048_576 });
  assert.equal(xmlLimitsOf(loadIngressConfig({ MAX_TEXT_BYTES: '2048' })).maxTextBytes, 2048);
  assert.throws(() => loadIngressConfig({ MAX_STANZA_DEPTH: '2' }), /MAX_STANZA_DEPTH/);
  assert.throws(() => loadIngressConfig({ MAX_ATTRIBUTE_BYTES: '100' }), /MAX_ATTRIBUTE_BYTES/);
});
