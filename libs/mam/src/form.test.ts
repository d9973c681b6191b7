import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml } from '@dbroker/protocol';
import { MamRefusal } from './errors';
import { buildQueryForm, parseQueryForm } from './form';
import { NS_MAM_1, NS_MAM_2 } from './namespaces';

const form = (fields: string, type = 'submit', formType = NS_MAM_2) =>
  parseXml(`<x xmlns='jabber:x:data' type='${type}'><field var='FORM_TYPE' type='hidden'><value>${formType}</value></field>${fields}</x>`);
const field = (name: string, ...values: string[]) => `<field var='${name}'>${values.map((v) => `<value>${v}</value>`).join('')}</field>`;
const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MamRefusal, String(err));
    return err.code;
  }
  assert.fail('expected a refusal');
};

test('XEP-0313 §4.1.1/§4.1.2 examples: with, start, end', () => {
  assert.deepEqual(parseQueryForm(form(field('with', 'juliet@capulet.lit')), NS_MAM_2), { with: 'juliet@capulet.lit' });
  const f = parseQueryForm(form(field('start', '2010-06-07T00:00:00Z') + field('end', '2010-07-07T13:23:54Z')), NS_MAM_2);
  assert.equal(f.start?.toISOString(), '2010-06-07T00:00:00.000Z');
  assert.equal(f.end?.toISOString(), '2010-07-07T13:23:54.000Z');
  assert.deepEqual(parseQueryForm(undefined, NS_MAM_2), {}, 'no form: no filter');
  assert.deepEqual(parseQueryForm(form(field('with', 'Juliet@Capulet.LIT/Balcony')), NS_MAM_2), { with: 'juliet@capulet.lit/Balcony' }, 'normalised');
});

test('§4.1.4 extended fields: after-id, before-id, ids (mam:2 only)', () => {
  assert.deepEqual(parseQueryForm(form(field('after-id', '28482-98726-73623') + field('before-id', '09af3-cc343-b409f')), NS_MAM_2), {
    afterId: '28482-98726-73623',
    beforeId: '09af3-cc343-b409f',
  });
  assert.deepEqual(parseQueryForm(form(field('ids', '1', '2', '2', '3')), NS_MAM_2), { ids: ['1', '2', '3'] });
  assert.equal(refusal(() => parseQueryForm(form(field('after-id', '1'), 'submit', NS_MAM_1), NS_MAM_1)), 'feature-not-implemented');
  assert.deepEqual(parseQueryForm(form(field('with', 'a@b'), 'submit', NS_MAM_1), NS_MAM_1), { with: 'a@b' });
});

test('empty values count as absent', () => {
  assert.deepEqual(parseQueryForm(form(field('with') + field('start', '') + field('ids')), NS_MAM_2), {});
});

test('bad forms: bad-request; unknown fields: feature-not-implemented (§4.1.5 MUST)', () => {
  assert.equal(refusal(() => parseQueryForm(form(field('start', '2010-06-07')), NS_MAM_2)), 'bad-request');
  assert.equal(refusal(() => parseQueryForm(form(field('end', 'tomorrow')), NS_MAM_2)), 'bad-request');
  assert.equal(refusal(() => parseQueryForm(form(field('with', 'not a jid@')), NS_MAM_2)), 'bad-request');
  assert.equal(refusal(() => parseQueryForm(form(field('start', '2010-06-07T00:00:00Z', '2010-06-08T00:00:00Z')), NS_MAM_2)), 'bad-request');
  assert.equal(refusal(() => parseQueryForm(form('', 'submit', 'urn:xmpp:mam:1'), NS_MAM_2)), 'bad-request', 'FORM_TYPE of another version');
  assert.equal(refusal(() => parseQueryForm(form('', 'submit', 'jabber:iq:search'), NS_MAM_2)), 'bad-request');
  assert.equal(refusal(() => parseQueryForm(parseXml(`<x xmlns='jabber:x:data' type='submit'>${field('with', 'a@b')}</x>`), NS_MAM_2)), 'bad-request', 'no FORM_TYPE');
  assert.equal(refusal(() => parseQueryForm(form('', 'form'), NS_MAM_2)), 'bad-request', 'not a submission');
  assert.equal(refusal(() => parseQueryForm(form(field('with', 'a@b') + field('with', 'c@d')), NS_MAM_2)), 'bad-request');
  assert.equal(refusal(() => parseQueryForm(form(`<field><value>x</value></field>`), NS_MAM_2)), 'bad-request');
  assert.equal(refusal(() => parseQueryForm(form(field('include-groupchat', 'true')), NS_MAM_2)), 'feature-not-implemented');
  assert.equal(refusal(() => parseQueryForm(form(field('{urn:example:xmpp}free-text-search', 'juliet')), NS_MAM_2)), 'feature-not-implemented');
  const many = Array.from({ length: 1001 }, (_, i) => String(i + 1));
  assert.equal(refusal(() => parseQueryForm(form(field('ids', ...many)), NS_MAM_2)), 'bad-request');
});

test('form discovery (§4.1.5) lists exactly what is accepted, ids as an open list', () => {
  const x = buildQueryForm(NS_MAM_2);
  assert.equal(x.attrs.type, 'form');
  const vars = x.getChildren('field').map((f) => `${f.attrs.var}:${f.attrs.type}`);
  assert.deepEqual(vars, ['FORM_TYPE:hidden', 'with:jid-single', 'start:text-single', 'end:text-single', 'before-id:text-single', 'after-id:text-single', 'ids:list-multi']);
  assert.equal(x.getChildren('field')[0]?.getChildText('value'), NS_MAM_2);
  assert.ok(x.getChildren('field')[6]?.getChild('validate', 'http://jabber.org/protocol/xdata-validate')?.getChild('open'));
  assert.deepEqual(buildQueryForm(NS_MAM_1).getChildren('field').map((f) => f.attrs.var), ['FORM_TYPE', 'with', 'start', 'end']);
  // every advertised field is accepted back
  const submitted = form(field('with', 'a@b') + field('start', '2020-01-01T00:00:00Z') + field('end', '2020-01-02T00:00:00Z') + field('before-id', '9') + field('after-id', '1') + field('ids', '5'));
  assert.ok(parseQueryForm(submitted, NS_MAM_2));
});
