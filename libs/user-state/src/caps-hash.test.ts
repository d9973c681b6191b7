import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml } from '@dbroker/protocol';
import { COMPLEX_QUERY, COMPLEX_VER, SIMPLE_QUERY, SIMPLE_VER } from './test-fixtures';
import { capsVer, checkCaps, octetCompare, readDiscoInfo, verificationString, verifyCaps } from './caps-hash';

const q = (text: string) => parseXml(text);

describe('XEP-0115 verification string', () => {
  test('§5.2 simple example: S and ver', () => {
    const s = verificationString(readDiscoInfo(q(SIMPLE_QUERY)));
    assert.deepEqual(s, {
      ok: true,
      value: 'client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<',
    });
    assert.equal(capsVer(s.ok ? s.value : '', 'sha-1'), SIMPLE_VER);
    assert.equal(verifyCaps(q(SIMPLE_QUERY), { hash: 'sha-1', ver: SIMPLE_VER }), true);
  });

  test('§5.3 complex example: identities by lang, sorted fields and values, the form after the features', () => {
    const s = verificationString(readDiscoInfo(q(COMPLEX_QUERY)));
    assert.deepEqual(s, {
      ok: true,
      value:
        'client/pc/el/\u03a8 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<' +
        'http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<' +
        'ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<',
    });
    assert.equal(verifyCaps(q(COMPLEX_QUERY), { hash: 'sha-1', ver: COMPLEX_VER }), true);
  });

  test('a tampered answer (one feature more, a changed name, a changed form value) does not verify', () => {
    const extra = SIMPLE_QUERY.replace('</query>', "<feature var='urn:xmpp:evil+notify'/></query>");
    assert.deepEqual(checkCaps(q(extra), { hash: 'sha-1', ver: SIMPLE_VER }).result, 'mismatch');
    assert.equal(verifyCaps(q(SIMPLE_QUERY.replace('Exodus 0.9.1', 'Exodus 0.9.2')), { hash: 'sha-1', ver: SIMPLE_VER }), false);
    assert.equal(verifyCaps(q(COMPLEX_QUERY.replace('<value>Mac</value>', '<value>Linux</value>')), { hash: 'sha-1', ver: COMPLEX_VER }), false);
    // and the advertised ver itself altered
    assert.equal(verifyCaps(q(SIMPLE_QUERY), { hash: 'sha-1', ver: 'QgayPKawpkPSDYmwT/WM94uAlu1=' }), false);
  });

  test('the ver of another hash function is checked with that function', () => {
    const s = verificationString(readDiscoInfo(q(SIMPLE_QUERY)));
    assert.ok(s.ok);
    const v256 = capsVer(s.value, 'sha-256')!;
    assert.notEqual(v256, SIMPLE_VER);
    assert.equal(verifyCaps(q(SIMPLE_QUERY), { hash: 'sha-256', ver: v256 }), true);
    assert.equal(verifyCaps(q(SIMPLE_QUERY), { hash: 'sha-1', ver: v256 }), false);
  });

  test('unknown or weak hash functions are not verifiable', () => {
    for (const hash of ['md5', 'sha3-256', 'x-custom', '']) {
      const r = checkCaps(q(SIMPLE_QUERY), { hash, ver: SIMPLE_VER });
      assert.equal(r.result, 'unverifiable', hash);
      assert.equal(verifyCaps(q(SIMPLE_QUERY), { hash, ver: SIMPLE_VER }), false);
    }
    assert.equal(capsVer('x', 'md5'), undefined);
  });

  test('§5.4 ill-formed answers: duplicate identity, duplicate feature, several FORM_TYPE values, two forms of one FORM_TYPE', () => {
    const dupIdentity = SIMPLE_QUERY.replace('</query>', "<identity category='client' name='Exodus 0.9.1' type='pc'/></query>");
    const dupFeature = SIMPLE_QUERY.replace('</query>', "<feature var='http://jabber.org/protocol/muc'/></query>");
    const twoValues = COMPLEX_QUERY.replace('<value>urn:xmpp:dataforms:softwareinfo</value>', '<value>urn:xmpp:dataforms:softwareinfo</value><value>urn:other</value>');
    const form = "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field></x>";
    const twoForms = COMPLEX_QUERY.replace('</query>', `${form}</query>`);
    for (const [label, text, ver] of [
      ['identity', dupIdentity, SIMPLE_VER],
      ['feature', dupFeature, SIMPLE_VER],
      ['FORM_TYPE values', twoValues, COMPLEX_VER],
      ['two forms', twoForms, COMPLEX_VER],
    ] as const) {
      const r = checkCaps(q(text), { hash: 'sha-1', ver });
      assert.equal(r.result, 'unverifiable', label);
      assert.match((r as { reason: string }).reason, /ill-formed/, label);
    }
    // the same FORM_TYPE value twice is one value, not ill-formed
    const sameTwice = COMPLEX_QUERY.replace('<value>urn:xmpp:dataforms:softwareinfo</value>', '<value>urn:xmpp:dataforms:softwareinfo</value><value>urn:xmpp:dataforms:softwareinfo</value>');
    assert.equal(verifyCaps(q(sameTwice), { hash: 'sha-1', ver: COMPLEX_VER }), true);
  });

  test('a form without a hidden FORM_TYPE is ignored, not hashed', () => {
    const noFormType = SIMPLE_QUERY.replace('</query>', "<x xmlns='jabber:x:data' type='result'><field var='os'><value>Mac</value></field></x></query>");
    const notHidden = SIMPLE_QUERY.replace('</query>', "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>urn:x</value></field></x></query>");
    assert.equal(verifyCaps(q(noFormType), { hash: 'sha-1', ver: SIMPLE_VER }), true);
    assert.equal(verifyCaps(q(notHidden), { hash: 'sha-1', ver: SIMPLE_VER }), true);
  });

  test('elements of other namespaces are not identities or features', () => {
    const foreign = SIMPLE_QUERY.replace('</query>', "<feature xmlns='urn:other' var='urn:x'/><identity xmlns='urn:other' category='a' type='b'/></query>");
    assert.equal(verifyCaps(q(foreign), { hash: 'sha-1', ver: SIMPLE_VER }), true);
  });

  test('not a disco#info query: not verifiable', () => {
    assert.equal(checkCaps(q("<query xmlns='jabber:iq:roster'/>"), { hash: 'sha-1', ver: SIMPLE_VER }).result, 'unverifiable');
  });

  test('sorting is i;octet over UTF-8, not UTF-16 code units', () => {
    // U+FF21 is one UTF-16 unit above the surrogates of U+1F600, but its UTF-8 bytes (EF ...) sort below F0 ...
    assert.ok('\u{1F600}' < '\uFF21');
    assert.ok(octetCompare('\uFF21', '\u{1F600}') < 0);
    const info = readDiscoInfo(q("<query xmlns='http://jabber.org/protocol/disco#info'><feature var='\u{1F600}'/><feature var='\uFF21'/></query>"));
    assert.deepEqual(verificationString(info), { ok: true, value: '\uFF21<\u{1F600}<' });
  });
});
