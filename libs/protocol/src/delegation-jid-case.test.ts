import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildInnerReply, checkWorkerReply, parseForwardedIq, wrapReply } from './delegation';
import { StanzaError } from './stanza-error';
import { EJABBERD_FORWARDED, LOCAL_CTX } from './test-fixtures';
import { parseXml } from './xml-parse';

// ejabberd 23.01 forwards the inner `to` as the client typed it (observed: a client asking `ALICE@LocalHost`
// gets a forwarded IQ with to='ALICE@LocalHost'), and accepts the reply only when its `from` decodes to the very
// same JID, case included (mod_delegation matches `#iq{from = To}` on the raw JID record). Workers, which
// assume normalized JIDs, must see `alice@localhost`; the server must get its own spelling back.
const mixedCase = EJABBERD_FORWARDED.replace("to='user1@localhost'", "to='USER1@LocalHost'");

function parse(text: string) {
  const r = parseForwardedIq(parseXml(text), LOCAL_CTX);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.value;
}

describe('a target address in another case (ejabberd forwards it as typed)', () => {
  it('workers see the normalized target; the address as sent is kept for the reply', () => {
    const req = parse(mixedCase);
    assert.equal(req.to, 'USER1@LocalHost');
    assert.equal(req.targetBare, 'user1@localhost');
    assert.equal(req.inner.attrs.to, 'user1@localhost');
    assert.equal(req.inner.attrs.from, 'user1@localhost/tkabber');
  });

  it('a worker reply from the normalized target is accepted and re-addressed from the original spelling', () => {
    const req = parse(mixedCase);
    const fromWorker = parseXml(`<iq xmlns='jabber:client' type='result' id='pub1' from='user1@localhost' to='user1@localhost/tkabber'/>`);
    const checked = checkWorkerReply(req, fromWorker);
    assert.ok(checked.ok, checked.ok ? '' : checked.reason);
    assert.equal(checked.value.attrs.from, 'USER1@LocalHost');
    const inner = wrapReply(req, checked.value).getChild('delegation')!.getChild('forwarded')!.getChild('iq')!;
    assert.equal(inner.attrs.from, 'USER1@LocalHost');
    assert.equal(inner.attrs.to, 'user1@localhost/tkabber');
  });

  it('the broker\'s own errors echo the original spelling too; other senders are still refused', () => {
    const req = parse(mixedCase);
    assert.equal(buildInnerReply(req, 'error', new StanzaError('item-not-found')).attrs.from, 'USER1@LocalHost');
    assert.ok(checkWorkerReply(req, buildInnerReply(req, 'result')).ok);
    const other = checkWorkerReply(req, parseXml(`<iq type='result' id='pub1' from='user2@localhost' to='user1@localhost/tkabber'/>`));
    assert.equal(other.ok, false);
  });

  it('an address already normalized is unchanged', () => {
    const req = parse(EJABBERD_FORWARDED);
    assert.equal(req.inner.attrs.to, 'user1@localhost');
    const checked = checkWorkerReply(req, parseXml(`<iq type='result' id='pub1' from='user1@localhost' to='user1@localhost/tkabber'/>`));
    assert.ok(checked.ok);
    assert.equal(checked.value.attrs.from, 'user1@localhost');
  });
});
