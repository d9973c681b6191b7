import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromFields, DEFAULT_NODE_CONFIG, effectiveMaxItems, normaliseConfig, unmetPrecondition, validateConfig } from './config';

const f = (name: string, ...values: string[]) => ({ name, values });

describe('node config', () => {
  test('XEP-0163 defaults', () => {
    assert.deepEqual(DEFAULT_NODE_CONFIG, {
      access_model: 'presence',
      max_items: 1,
      persist_items: true,
      send_last_published_item: 'on_sub_and_presence',
      notify_retract: true,
      deliver_payloads: true,
      publish_model: 'publishers',
    });
  });

  test('publish-options fields → config (XEP-0060 §16.4.4 names, boolean 1/0/true/false)', () => {
    assert.deepEqual(
      configFromFields([
        f('FORM_TYPE', 'http://jabber.org/protocol/pubsub#publish-options'),
        f('pubsub#access_model', 'open'),
        f('pubsub#max_items', 'max'),
        f('pubsub#persist_items', '1'),
        f('pubsub#notify_retract', 'false'),
        f('pubsub#send_last_published_item', 'never'),
      ]),
      { ok: true, value: { access_model: 'open', max_items: 'max', persist_items: true, notify_retract: false, send_last_published_item: 'never' } },
    );
    assert.deepEqual(configFromFields([f('pubsub#max_items', '16')]), { ok: true, value: { max_items: 16 } });
  });

  test('unknown options and unimplemented values cannot be met; malformed values are bad requests', () => {
    const cases: Array<[string, string, string]> = [
      ['pubsub#notify_delete', '1', 'precondition-not-met'],
      ['pubsub#access_model', 'authorize', 'precondition-not-met'],
      ['pubsub#publish_model', 'open', 'precondition-not-met'],
      ['pubsub#access_model', 'everyone', 'bad-request'],
      ['pubsub#max_items', '-1', 'bad-request'],
      ['pubsub#persist_items', 'yes', 'bad-request'],
    ];
    for (const [name, value, error] of cases) {
      const r = configFromFields([f(name, value)]);
      assert.equal(r.ok ? 'ok' : r.error, error, `${name}=${value}`);
    }
    const twoValues = configFromFields([f('pubsub#access_model', 'open', 'presence')]);
    assert.equal(twoValues.ok ? 'ok' : twoValues.error, 'bad-request');
  });

  test('bounds of max_items', () => {
    assert.equal(validateConfig({ max_items: 0 }, 256)?.error, 'bad-request');
    assert.equal(validateConfig({ max_items: 257 }, 256)?.error, 'precondition-not-met');
    assert.equal(validateConfig({ max_items: 'max' }, 256), undefined);
    assert.equal(effectiveMaxItems({ ...DEFAULT_NODE_CONFIG, max_items: 'max' }, 256), 256);
  });

  test('preconditions compare with the node config; max matches the service limit', () => {
    const config = { ...DEFAULT_NODE_CONFIG, max_items: 256 };
    assert.equal(unmetPrecondition(config, { max_items: 'max', access_model: 'presence' }, 256), undefined);
    assert.equal(unmetPrecondition(config, { access_model: 'open' }, 256), 'access_model');
    assert.equal(unmetPrecondition(DEFAULT_NODE_CONFIG, { max_items: 'max' }, 256), 'max_items');
  });

  test('stored configs are normalised: missing or invalid keys take defaults', () => {
    assert.deepEqual(normaliseConfig({ access_model: 'open', max_items: 'lots', future_option: 1 }), { ...DEFAULT_NODE_CONFIG, access_model: 'open' });
    assert.deepEqual(normaliseConfig(null), DEFAULT_NODE_CONFIG);
  });
});
