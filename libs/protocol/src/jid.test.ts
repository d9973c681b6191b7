import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accountJid, bareJid, isBareJid, isDomainJid, isFullJid, jidToString, normalizeJid, parseJid, sameBareJid } from './jid';

describe('parseJid (RFC 7622 §3)', () => {
  it('splits localpart, domainpart and resourcepart', () => {
    assert.deepEqual(parseJid('juliet@capulet.lit/balcony'), { local: 'juliet', domain: 'capulet.lit', resource: 'balcony' });
    assert.deepEqual(parseJid('juliet@capulet.lit'), { local: 'juliet', domain: 'capulet.lit' });
    assert.deepEqual(parseJid('capulet.lit'), { domain: 'capulet.lit' });
    assert.deepEqual(parseJid('capulet.lit/res'), { domain: 'capulet.lit', resource: 'res' });
  });

  it('lowercases localpart and domainpart, keeps the resource as sent', () => {
    assert.deepEqual(parseJid('Juliet@Capulet.LIT/Balcony'), { local: 'juliet', domain: 'capulet.lit', resource: 'Balcony' });
  });

  it('takes everything after the first slash as the resource (RFC 7622 §3.1)', () => {
    assert.deepEqual(parseJid('juliet@capulet.lit/a/b@c'), { local: 'juliet', domain: 'capulet.lit', resource: 'a/b@c' });
    assert.deepEqual(parseJid('capulet.lit/juliet@x'), { domain: 'capulet.lit', resource: 'juliet@x' });
  });

  it('drops a trailing dot of the domain (RFC 7622 §3.2)', () => {
    assert.equal(jidToString(parseJid('juliet@capulet.lit.')!), 'juliet@capulet.lit');
  });

  it('accepts IDN, IPv4 and IPv6 literals, underscores and spaces in resources', () => {
    assert.ok(parseJid('jürgen@münchen.example'));
    assert.ok(parseJid('user@192.0.2.1'));
    assert.deepEqual(parseJid('user@[2001:db8::1]'), { local: 'user', domain: '[2001:db8::1]' });
    assert.ok(parseJid('user@_xmpp.example'));
    assert.ok(parseJid('juliet@capulet.lit/my phone'));
  });

  const invalid: Array<[string, string]> = [
    ['', 'empty'],
    ['@capulet.lit', 'empty localpart'],
    ['juliet@', 'empty domainpart'],
    ['juliet@capulet.lit/', 'empty resourcepart'],
    ['/res', 'empty domain before the resource'],
    ['a@b@capulet.lit', "'@' in the domainpart"],
    ['jul"iet@capulet.lit', 'double quote in localpart'],
    ["jul'iet@capulet.lit", 'apostrophe in localpart'],
    ['jul&iet@capulet.lit', 'ampersand in localpart'],
    ['jul<iet@capulet.lit', 'angle bracket in localpart'],
    ['jul:iet@capulet.lit', 'colon in localpart'],
    ['jul iet@capulet.lit', 'space in localpart'],
    ['jul\u00a0iet@capulet.lit', 'no-break space in localpart'],
    ['jul\u202eiet@capulet.lit', 'bidi override in localpart'],
    ['juliet@capu\u200blet.lit', 'zero-width space in domain'],
    ['juliet@capu let.lit', 'space in domain'],
    ['juliet@capulet..lit', 'empty label'],
    ['juliet@.capulet.lit', 'leading dot'],
    ['juliet@capulet.lit/\u0007', 'control in resource'],
    ['juliet\u0000@capulet.lit', 'NUL'],
    ['juliet@capulet.lit/\u0085', 'C1 control'],
    ['juliet@\uD800.lit', 'lone surrogate'],
    ['juliet@capulet.lit:5222', 'port'],
    ['juliet@[2001:db8::1', 'broken IPv6 literal'],
    [`${'a'.repeat(1024)}@capulet.lit`, 'localpart over 1023 bytes'],
    [`juliet@capulet.lit/${'é'.repeat(512)}`, 'resource over 1023 bytes'],
    [`juliet@${'a'.repeat(64)}.lit`, 'label over 63 bytes'],
  ];
  for (const [s, why] of invalid) {
    it(`rejects ${JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s)} (${why})`, () => assert.equal(parseJid(s), null));
  }

  it('accepts parts of exactly 1023 bytes', () => {
    assert.ok(parseJid(`${'a'.repeat(1023)}@capulet.lit`));
  });
});

describe('JID helpers', () => {
  it('bareJid normalizes and drops the resource', () => {
    assert.equal(bareJid('Juliet@Capulet.lit/Balcony'), 'juliet@capulet.lit');
    assert.equal(bareJid('capulet.lit/x'), 'capulet.lit');
    assert.equal(bareJid('not a jid'), null);
  });

  it('isBareJid / isFullJid', () => {
    assert.equal(isBareJid('juliet@capulet.lit'), true);
    assert.equal(isBareJid('capulet.lit'), true);
    assert.equal(isBareJid('juliet@capulet.lit/balcony'), false);
    assert.equal(isFullJid('juliet@capulet.lit/balcony'), true);
    assert.equal(isFullJid('juliet@capulet.lit'), false);
    assert.equal(isBareJid('@@'), false);
    assert.equal(isFullJid('@@/x'), false);
  });

  it('sameBareJid compares normalized bare JIDs', () => {
    assert.equal(sameBareJid('Juliet@capulet.lit/a', 'juliet@CAPULET.lit/b'), true);
    assert.equal(sameBareJid('juliet@capulet.lit', 'romeo@capulet.lit'), false);
    assert.equal(sameBareJid('', ''), false);
  });

  it('isDomainJid accepts only the bare domain', () => {
    assert.equal(isDomainJid('Capulet.lit', 'capulet.lit'), true);
    assert.equal(isDomainJid('capulet.lit/res', 'capulet.lit'), false);
    assert.equal(isDomainJid('admin@capulet.lit', 'capulet.lit'), false);
    assert.equal(isDomainJid('evil.lit', 'capulet.lit'), false);
  });

  it('jidToString inverts parseJid', () => {
    for (const s of ['juliet@capulet.lit/balcony', 'capulet.lit', 'capulet.lit/r', 'a@b']) {
      assert.equal(jidToString(parseJid(s)!), s);
    }
  });

  it('normalizeJid folds the localpart and domainpart, keeps the resource, refuses garbage', () => {
    assert.equal(normalizeJid('MALLORY@example.ORG/Res'), 'mallory@example.org/Res');
    assert.equal(normalizeJid('Mallory@Example.org.'), 'mallory@example.org');
    assert.equal(normalizeJid('ÉLODIE@Exemple.FR'), 'élodie@exemple.fr', 'non-ASCII letters fold too');
    assert.equal(normalizeJid('ＡＢＣ@example.org'), 'ａｂｃ@example.org', 'width is not mapped (no PRECIS): documented');
    assert.equal(normalizeJid('a b@example.org'), null);
    assert.equal(normalizeJid(''), null);
  });

  it('accountJid is the normalised bare JID, or the empty string (no account) for garbage', () => {
    assert.equal(accountJid('Mallory@Example.org/phone'), 'mallory@example.org');
    assert.equal(accountJid('EXAMPLE.org'), 'example.org');
    assert.equal(accountJid('not a jid'), '');
    assert.equal(accountJid('@example.org'), '');
  });
});
