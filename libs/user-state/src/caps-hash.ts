import { createHash } from 'node:crypto';
import type { Element } from '@xmpp/xml';

/**
 * XEP-0115 (Entity Capabilities 1.6) §5: the verification string of a disco#info answer and the check of
 * an advertised `ver` against it. Pure apart from hashing.
 */

export const DISCO_INFO_NS = 'http://jabber.org/protocol/disco#info';
const DATA_FORMS_NS = 'jabber:x:data';
const XML_LANG = 'xml:lang';

export interface DiscoIdentity {
  category: string;
  type: string;
  lang?: string;
  name?: string;
}

/** What a disco#info `<query/>` says about an entity, in document order. */
export interface DiscoInfoContent {
  identities: DiscoIdentity[];
  features: string[];
  /** Extended information (XEP-0128): `jabber:x:data` forms, as `var` -> values. */
  forms: Array<{ formType: string[]; formTypeHidden: boolean; fields: Array<{ var: string; values: string[] }> }>;
}

/**
 * Hash function names of the IANA registry XEP-0115 §5.1 refers to, mapped to node:crypto. MD5 is left out
 * on purpose (§8.4: a weak hash makes cache poisoning cheap): an `md5` caps is "not verifiable".
 */
const HASHES: ReadonlyMap<string, string> = new Map([
  ['sha-1', 'sha1'],
  ['sha-224', 'sha224'],
  ['sha-256', 'sha256'],
  ['sha-384', 'sha384'],
  ['sha-512', 'sha512'],
]);

export const SUPPORTED_CAPS_HASHES: readonly string[] = [...HASHES.keys()];

const isElement = (c: unknown): c is Element => typeof c === 'object' && c !== null && typeof (c as Element).name === 'string';

/** Namespace of a child of `query`: its own `xmlns`, else inherited (ltx resolves prefixes too). */
const nsOf = (el: Element): string | undefined => el.getNS() || undefined;

/** Reads identities, features and forms of a disco#info `<query/>` (RFC 6120 elements, no validation). */
export function readDiscoInfo(query: Element): DiscoInfoContent {
  const content: DiscoInfoContent = { identities: [], features: [], forms: [] };
  for (const child of query.children) {
    if (!isElement(child)) continue;
    const ns = nsOf(child);
    if (ns === DISCO_INFO_NS && child.name === 'identity') {
      const id: DiscoIdentity = { category: child.attrs.category ?? '', type: child.attrs.type ?? '' };
      if (child.attrs[XML_LANG] !== undefined) id.lang = child.attrs[XML_LANG];
      if (child.attrs.name !== undefined) id.name = child.attrs.name;
      content.identities.push(id);
    } else if (ns === DISCO_INFO_NS && child.name === 'feature') {
      content.features.push(child.attrs.var ?? '');
    } else if (ns === DATA_FORMS_NS && child.name === 'x') {
      const fields: Array<{ var: string; values: string[] }> = [];
      let formType: string[] = [];
      let formTypeFields = 0;
      let formTypeHidden = true;
      for (const f of child.children) {
        if (!isElement(f) || f.name !== 'field' || nsOf(f) !== DATA_FORMS_NS) continue;
        const values = f.children.filter((v): v is Element => isElement(v) && v.name === 'value' && nsOf(v) === DATA_FORMS_NS).map((v) => v.getText());
        if (f.attrs.var === 'FORM_TYPE') {
          // two FORM_TYPE fields: keep every value, the duplicate check below makes the form ill-formed
          formType = [...formType, ...values];
          formTypeHidden &&= f.attrs.type === 'hidden';
          formTypeFields++;
        } else {
          fields.push({ var: f.attrs.var ?? '', values });
        }
      }
      content.forms.push({ formType, formTypeHidden: formTypeFields > 0 && formTypeHidden, fields });
    }
  }
  return content;
}

/** RFC 4790 §9.3 i;octet: compare the UTF-8 bytes (not JavaScript's UTF-16 code units). */
export function octetCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const identityKey = (i: DiscoIdentity): string[] => [i.category, i.type, i.lang ?? '', i.name ?? ''];

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let k = 0; k < a.length; k++) {
    const c = octetCompare(a[k] ?? '', b[k] ?? '');
    if (c !== 0) return c;
  }
  return 0;
}

export type VerificationString = { ok: true; value: string } | { ok: false; reason: string };

/**
 * XEP-0115 §5.1 verification string S, with the §5.4 checks that make an answer ill-formed:
 * a duplicate identity (same category/type/lang/name), a duplicate feature, two forms with the same
 * FORM_TYPE, or a FORM_TYPE with several different values. A form without a hidden FORM_TYPE is ignored
 * (§5.4 step 3.6).
 */
export function verificationString(info: DiscoInfoContent): VerificationString {
  const identities = [...info.identities].sort((a, b) => compareKeys(identityKey(a), identityKey(b)));
  for (let i = 1; i < identities.length; i++) {
    if (compareKeys(identityKey(identities[i - 1]!), identityKey(identities[i]!)) === 0) return { ok: false, reason: 'duplicate identity' };
  }
  const features = [...info.features].sort(octetCompare);
  for (let i = 1; i < features.length; i++) {
    if (features[i - 1] === features[i]) return { ok: false, reason: `duplicate feature ${features[i]}` };
  }
  const forms: Array<{ formType: string; fields: Array<{ var: string; values: string[] }> }> = [];
  for (const form of info.forms) {
    const distinct = [...new Set(form.formType)];
    if (distinct.length > 1) return { ok: false, reason: 'FORM_TYPE with several values' };
    if (distinct.length === 0 || !form.formTypeHidden) continue;
    forms.push({ formType: distinct[0]!, fields: form.fields });
  }
  forms.sort((a, b) => octetCompare(a.formType, b.formType));
  for (let i = 1; i < forms.length; i++) {
    if (forms[i - 1]!.formType === forms[i]!.formType) return { ok: false, reason: `two forms with FORM_TYPE ${forms[i]!.formType}` };
  }

  let s = '';
  for (const i of identities) s += `${i.category}/${i.type}/${i.lang ?? ''}/${i.name ?? ''}<`;
  for (const f of features) s += `${f}<`;
  for (const form of forms) {
    s += `${form.formType}<`;
    const fields = [...form.fields].sort((a, b) => octetCompare(a.var, b.var));
    for (const field of fields) {
      s += `${field.var}<`;
      for (const v of [...field.values].sort(octetCompare)) s += `${v}<`;
    }
  }
  return { ok: true, value: s };
}

/** `ver` for a verification string: base64 of its hash (§5.1 steps 8-9); undefined for an unsupported hash. */
export function capsVer(s: string, hash: string): string | undefined {
  const algorithm = HASHES.get(hash.toLowerCase());
  if (algorithm === undefined) return undefined;
  return createHash(algorithm).update(s, 'utf8').digest('base64');
}

export type CapsCheck =
  | { result: 'verified' }
  /** The answer is well-formed and the hash known, but it gives another `ver`. */
  | { result: 'mismatch'; computed: string }
  /** Unknown hash function, or an ill-formed answer (§5.4): nothing can be said. */
  | { result: 'unverifiable'; reason: string };

/** Checks a disco#info `<query/>` against an advertised caps `{hash, ver}` (XEP-0115 §5.4). */
export function checkCaps(query: Element, caps: { hash: string; ver: string }): CapsCheck {
  if (query.name !== 'query' || nsOf(query) !== DISCO_INFO_NS) return { result: 'unverifiable', reason: 'not a disco#info query' };
  if (!HASHES.has(caps.hash.toLowerCase())) return { result: 'unverifiable', reason: `unsupported hash function ${caps.hash}` };
  const s = verificationString(readDiscoInfo(query));
  if (!s.ok) return { result: 'unverifiable', reason: `ill-formed disco#info: ${s.reason}` };
  const computed = capsVer(s.value, caps.hash)!;
  return computed === caps.ver ? { result: 'verified' } : { result: 'mismatch', computed };
}

/** True when `query` is the disco#info answer `{hash, ver}` stands for. */
export function verifyCaps(query: Element, caps: { hash: string; ver: string }): boolean {
  return checkCaps(query, caps).result === 'verified';
}
