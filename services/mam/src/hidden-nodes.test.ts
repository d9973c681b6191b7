import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { parseXml } from '@dbroker/protocol';
import { createMemoryRosterLookup, createPgPubsubStorage, createPubsubEngine, handlePepDiscoIq, handlePubsubIq, type AccessModel } from '@dbroker/pubsub';
import { createDatabase, MIGRATIONS_DIR, runMigrations, type DatabaseHandle } from '@dbroker/store';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres';
import { createMamHandler, type MamHandler } from './handler';

/**
 * A node a requester may not see answers exactly like a node that does not exist, on every path: PEP
 * (items, publish, retract, subscribe, unsubscribe, own subscriptions and affiliations, options,
 * create, every owner operation), disco#info / disco#items on the node, MAM on the node (query, form,
 * metadata). For each requester who may not read the node (a stranger, a contact the access model
 * leaves out, an outcast) every request is sent once while the node does not exist and once after the
 * owner created it, and the two replies are compared as text: condition, type, pubsub child, text, all.
 * Real Postgres; the PEP engine and the MAM worker's handler over the same tables and the same roster.
 */

const OWNER = 'juliet@capulet.lit';
const PUBSUB = 'http://jabber.org/protocol/pubsub';
const OWNER_NS = 'http://jabber.org/protocol/pubsub#owner';
const logger = { error: () => undefined };

const REQUESTERS = {
  stranger: 'stranger@example.net/x',
  // in the roster, but with subscription 'to' (not presence) and another group (not roster)
  contact: 'contact@example.org/x',
  // in the roster with everything the access models ask for: only the outcast affiliation bars them
  outcast: 'outcast@example.org/x',
} as const;
type Requester = keyof typeof REQUESTERS;

const SCENARIOS: Array<[Requester, AccessModel]> = [
  ['stranger', 'presence'],
  ['stranger', 'roster'],
  ['stranger', 'whitelist'],
  ['contact', 'presence'],
  ['contact', 'roster'],
  ['contact', 'whitelist'],
  ['outcast', 'open'],
  ['outcast', 'presence'],
  ['outcast', 'roster'],
  ['outcast', 'whitelist'],
];

type Route = 'pep' | 'mam';
/** Every request a requester can make about one node: [name, route, iq type, payload]. */
function requests(node: string, req: string): Array<[string, Route, 'get' | 'set', string]> {
  const ps = (inner: string) => `<pubsub xmlns='${PUBSUB}'>${inner}</pubsub>`;
  const own = (inner: string) => `<pubsub xmlns='${OWNER_NS}'>${inner}</pubsub>`;
  const bare = req.split('/')[0];
  return [
    ['items', 'pep', 'get', ps(`<items node='${node}'/>`)],
    ['items by id', 'pep', 'get', ps(`<items node='${node}'><item id='x'/></items>`)],
    ['items max_items', 'pep', 'get', ps(`<items node='${node}' max_items='1'/>`)],
    ['publish', 'pep', 'set', ps(`<publish node='${node}'><item id='y'><p xmlns='urn:p'/></item></publish>`)],
    ['retract', 'pep', 'set', ps(`<retract node='${node}'><item id='x'/></retract>`)],
    ['subscribe', 'pep', 'set', ps(`<subscribe node='${node}' jid='${req}'/>`)],
    ['subscribe bare', 'pep', 'set', ps(`<subscribe node='${node}' jid='${bare}'/>`)],
    ['unsubscribe', 'pep', 'set', ps(`<unsubscribe node='${node}' jid='${req}'/>`)],
    ['subscriptions', 'pep', 'get', ps(`<subscriptions node='${node}'/>`)],
    ['affiliations', 'pep', 'get', ps(`<affiliations node='${node}'/>`)],
    ['options', 'pep', 'get', ps(`<options node='${node}' jid='${req}'/>`)],
    ['create', 'pep', 'set', ps(`<create node='${node}'/>`)],
    ['configure get', 'pep', 'get', own(`<configure node='${node}'/>`)],
    ['configure set', 'pep', 'set', own(`<configure node='${node}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field><field var='pubsub#access_model'><value>open</value></field></x></configure>`)],
    ['owner affiliations get', 'pep', 'get', own(`<affiliations node='${node}'/>`)],
    ['owner affiliations set', 'pep', 'set', own(`<affiliations node='${node}'><affiliation jid='${bare}' affiliation='member'/></affiliations>`)],
    ['owner subscriptions get', 'pep', 'get', own(`<subscriptions node='${node}'/>`)],
    ['owner subscriptions set', 'pep', 'set', own(`<subscriptions node='${node}'><subscription jid='${bare}' subscription='subscribed'/></subscriptions>`)],
    ['purge', 'pep', 'set', own(`<purge node='${node}'/>`)],
    ['delete', 'pep', 'set', own(`<delete node='${node}'/>`)],
    ['disco#info', 'pep', 'get', `<query xmlns='http://jabber.org/protocol/disco#info' node='${node}'/>`],
    ['disco#items', 'pep', 'get', `<query xmlns='http://jabber.org/protocol/disco#items' node='${node}'/>`],
    ['mam query', 'mam', 'set', `<query xmlns='urn:xmpp:mam:2' node='${node}' queryid='q1'/>`],
    ['mam query by id', 'mam', 'set', `<query xmlns='urn:xmpp:mam:2' node='${node}' queryid='q2'><set xmlns='http://jabber.org/protocol/rsm'><after>1</after></set></query>`],
    ['mam:1 query', 'mam', 'set', `<query xmlns='urn:xmpp:mam:1' node='${node}' queryid='q3'/>`],
    ['mam form', 'mam', 'get', `<query xmlns='urn:xmpp:mam:2' node='${node}'/>`],
    ['mam metadata', 'mam', 'get', `<metadata xmlns='urn:xmpp:mam:2' node='${node}'/>`],
  ];
}

describe('a node the requester may not see answers like a missing node (real Postgres)', () => {
  let temp: TempDatabase;
  let handle: DatabaseHandle;
  let mam: MamHandler;
  let pep: (stanza: string) => Promise<string>;
  const roster = createMemoryRosterLookup({
    [OWNER]: [
      { jid: 'contact@example.org', subscription: 'to', groups: ['Other'] },
      { jid: 'outcast@example.org', subscription: 'both', groups: ['Friends'] },
    ],
  });

  before(async () => {
    temp = await createTempDatabase('dbroker_hidden');
    handle = await createDatabase({ url: temp.url });
    await runMigrations(handle.db, { migrationsDir: MIGRATIONS_DIR });
    const engine = createPubsubEngine({ storage: createPgPubsubStorage(handle.raw), roster });
    pep = async (stanza) => {
      const iq = parseXml(stanza);
      const disco = await handlePepDiscoIq(iq, { engine, logger });
      return (disco ?? (await handlePubsubIq(iq, { engine, requestId: randomUUID(), logger }))).toString();
    };
    mam = createMamHandler({
      db: handle.db,
      logger,
      outbound: async () => ({ v: 1, ok: true }),
      subjectPrefix: 'xmpp',
      workerId: 'mam@test',
      pageSize: { default: 10, max: 10 },
      ackTimeoutMs: 1000,
      roster,
    });
  });
  after(async () => {
    await handle.close();
    await temp.drop();
  });

  const ask = async (route: Route, from: string, type: string, id: string, payload: string) => {
    const stanza = `<iq xmlns='jabber:client' type='${type}' id='${id}' from='${from}' to='${OWNER}'>${payload}</iq>`;
    return route === 'pep' ? await pep(stanza) : await mam({ requestId: randomUUID(), server: 'capulet.lit', stanza, deadline: Date.now() + 5000 });
  };
  const asOwner = async (payload: string) => {
    const reply = await pep(`<iq xmlns='jabber:client' type='set' id='o${randomUUID().slice(0, 6)}' from='${OWNER}/balcony' to='${OWNER}'>${payload}</iq>`);
    assert.match(reply, /type="result"/, reply);
  };

  for (const [who, model] of SCENARIOS) {
    test(`${who} on a ${model} node`, async () => {
      const node = `urn:test:hidden:${model}:${who}`;
      const from = REQUESTERS[who];
      const list = requests(node, from);
      const missing: string[] = [];
      for (const [name, route, type, payload] of list) missing.push(await ask(route, from, type, `r-${name.replace(/\W/g, '')}`, payload));

      await asOwner(`<pubsub xmlns='${PUBSUB}'><create node='${node}'><configure/></create></pubsub>`);
      await asOwner(
        `<pubsub xmlns='${OWNER_NS}'><configure node='${node}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>` +
          `<field var='pubsub#access_model'><value>${model}</value></field><field var='pubsub#roster_groups_allowed'><value>Friends</value></field></x></configure></pubsub>`,
      );
      await asOwner(`<pubsub xmlns='${PUBSUB}'><publish node='${node}'><item id='x'><p xmlns='urn:p'>secret</p></item></publish></pubsub>`);
      if (who === 'outcast') await asOwner(`<pubsub xmlns='${OWNER_NS}'><affiliations node='${node}'><affiliation jid='outcast@example.org' affiliation='outcast'/></affiliations></pubsub>`);

      const differences: string[] = [];
      for (const [i, [name, route, type, payload]] of list.entries()) {
        const existing = await ask(route, from, type, `r-${name.replace(/\W/g, '')}`, payload);
        // the form is the same for any node, existing or not (it looks nothing up)
        if (name !== 'mam form') assert.match(missing[i]!, /type="error"/, `${name}: the missing node is an error (${missing[i]})`);
        if (existing !== missing[i]) differences.push(`${name}:\n  missing:  ${missing[i]}\n  existing: ${existing}`);
      }
      assert.deepEqual(differences, [], differences.join('\n'));
      // and the node is still there, untouched by any of it
      const check = await pep(`<iq xmlns='jabber:client' type='get' id='c' from='${OWNER}/balcony' to='${OWNER}'><pubsub xmlns='${PUBSUB}'><items node='${node}'/></pubsub></iq>`);
      assert.match(check, /<item id="x">/);
    });
  }
});
