import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml } from '@dbroker/protocol';
import { MamRefusal } from './errors';
import { buildRsmSet, parseRsmSet } from './rsm';

const set = (inner: string) => parseXml(`<set xmlns='http://jabber.org/protocol/rsm'>${inner}</set>`);
const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MamRefusal, String(err));
    return err.code;
  }
  assert.fail('expected a refusal');
};

test('XEP-0059 requests: max, after, before, empty before (last page)', () => {
  assert.deepEqual(parseRsmSet(undefined), {});
  assert.deepEqual(parseRsmSet(set('<max>10</max>')), { max: 10 });
  assert.deepEqual(parseRsmSet(set('<max>10</max><after>09af3-cc343-b409f</after>')), { max: 10, after: '09af3-cc343-b409f' });
  assert.deepEqual(parseRsmSet(set('<max>10</max><before/>')), { max: 10, before: '' });
  assert.deepEqual(parseRsmSet(set('<before>28482-98726-73623</before>')), { before: '28482-98726-73623' });
  assert.deepEqual(parseRsmSet(set('<max>0</max>')), { max: 0 }, '§2.7: max 0 asks for the count');
  assert.deepEqual(parseRsmSet(set('<max> 5 </max>')), { max: 5 });
});

test('malformed sets are bad-request; <index/> is feature-not-implemented (§2.6)', () => {
  assert.equal(refusal(() => parseRsmSet(set('<max>-1</max>'))), 'bad-request');
  assert.equal(refusal(() => parseRsmSet(set('<max>ten</max>'))), 'bad-request');
  assert.equal(refusal(() => parseRsmSet(set('<max>1</max><max>2</max>'))), 'bad-request');
  assert.equal(refusal(() => parseRsmSet(set('<after/>'))), 'bad-request');
  assert.equal(refusal(() => parseRsmSet(set('<max>10</max><index>371</index>'))), 'feature-not-implemented');
});

test('answers: first with index, last, count; an empty page carries only the count', () => {
  assert.equal(
    buildRsmSet({ first: { id: 'a', index: 0 }, last: 'b', count: 20 }).toString(),
    '<set xmlns="http://jabber.org/protocol/rsm"><first index="0">a</first><last>b</last><count>20</count></set>',
  );
  assert.equal(buildRsmSet({ count: 0 }).toString(), '<set xmlns="http://jabber.org/protocol/rsm"><count>0</count></set>');
  assert.equal(buildRsmSet({ first: { id: '7' }, last: '9' }).toString(), '<set xmlns="http://jabber.org/protocol/rsm"><first>7</first><last>9</last></set>');
});
