-- Every JID the broker stores is in one normalised form (libs/protocol/src/jid.ts): localpart and
-- domainpart lowercased, a trailing dot of the domainpart dropped, the resourcepart kept as it is.
-- Before, affiliation and subscription JIDs from clients' payloads and the owner part of the inner `to`
-- were stored as sent, so `Mallory@Example.org` could miss an outcast entry for `mallory@example.org`.
-- lower() folds what the database's locale folds (all of Unicode under a UTF-8 locale, ASCII under "C").
-- Where two rows fold to one key, the most restrictive (affiliations: outcast) or the oldest is kept.
CREATE FUNCTION dbroker_fold_jid(j text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  slash int;
  bare text;
  res text := '';
  at int;
  lp text := '';
  dp text;
BEGIN
  IF j IS NULL THEN RETURN NULL; END IF;
  slash := strpos(j, '/');
  IF slash > 0 THEN bare := substr(j, 1, slash - 1); res := substr(j, slash); ELSE bare := j; END IF;
  at := strpos(bare, '@');
  IF at > 0 THEN lp := lower(substr(bare, 1, at)); dp := substr(bare, at + 1); ELSE dp := bare; END IF;
  dp := lower(dp);
  IF right(dp, 1) = '.' THEN dp := left(dp, -1); END IF;
  RETURN lp || dp || res;
END $$;--> statement-breakpoint
-- live nodes whose owners fold to one account: the oldest stays, the others become tombstones
WITH ranked AS (
  SELECT id, row_number() OVER (PARTITION BY dbroker_fold_jid(service), node ORDER BY created_at, id) AS rn
  FROM pubsub_nodes WHERE deleted_at IS NULL
)
UPDATE pubsub_nodes n SET deleted_at = now() FROM ranked r WHERE n.id = r.id AND r.rn > 1;--> statement-breakpoint
DELETE FROM pubsub_items i USING pubsub_nodes n WHERE i.node_id = n.id AND n.deleted_at IS NOT NULL;--> statement-breakpoint
DELETE FROM pubsub_subscriptions s USING pubsub_nodes n WHERE s.node_id = n.id AND n.deleted_at IS NOT NULL;--> statement-breakpoint
DELETE FROM pubsub_affiliations a USING pubsub_nodes n WHERE a.node_id = n.id AND n.deleted_at IS NOT NULL;--> statement-breakpoint
UPDATE pubsub_nodes SET service = dbroker_fold_jid(service) WHERE service <> dbroker_fold_jid(service);--> statement-breakpoint
DELETE FROM pubsub_affiliations a USING (
  SELECT node_id, jid, row_number() OVER (PARTITION BY node_id, dbroker_fold_jid(jid) ORDER BY (affiliation = 'outcast') DESC, updated_at DESC, jid) AS rn
  FROM pubsub_affiliations
) d WHERE a.node_id = d.node_id AND a.jid = d.jid AND d.rn > 1;--> statement-breakpoint
UPDATE pubsub_affiliations SET jid = dbroker_fold_jid(jid) WHERE jid <> dbroker_fold_jid(jid);--> statement-breakpoint
DELETE FROM pubsub_subscriptions s USING (
  SELECT node_id, jid, row_number() OVER (PARTITION BY node_id, dbroker_fold_jid(jid) ORDER BY created_at, jid) AS rn
  FROM pubsub_subscriptions
) d WHERE s.node_id = d.node_id AND s.jid = d.jid AND d.rn > 1;--> statement-breakpoint
UPDATE pubsub_subscriptions SET jid = dbroker_fold_jid(jid) WHERE jid <> dbroker_fold_jid(jid);--> statement-breakpoint
-- an outcast's subscriptions that survived because of the case mismatch end now, as they would have
DELETE FROM pubsub_subscriptions s USING pubsub_affiliations a
WHERE a.node_id = s.node_id AND a.affiliation = 'outcast' AND (s.jid = a.jid OR starts_with(s.jid, a.jid || '/'));--> statement-breakpoint
UPDATE pubsub_items SET publisher = dbroker_fold_jid(publisher) WHERE publisher <> dbroker_fold_jid(publisher);--> statement-breakpoint
UPDATE pubsub_node_events SET publisher = dbroker_fold_jid(publisher) WHERE publisher <> dbroker_fold_jid(publisher);--> statement-breakpoint
-- caches the workers refill: rows under another spelling are dropped rather than merged
DELETE FROM roster_cache WHERE owner <> dbroker_fold_jid(owner);--> statement-breakpoint
DELETE FROM presence_sessions WHERE full_jid <> dbroker_fold_jid(full_jid) OR bare_jid <> dbroker_fold_jid(bare_jid);--> statement-breakpoint
DROP FUNCTION dbroker_fold_jid(text);--> statement-breakpoint
-- Retract, purge and node delete erase the payloads of the node log's publish entries (MAM serves the
-- log): this finds an item's entries that still carry one without walking the node's whole log.
CREATE INDEX "pubsub_node_events_item_payload_idx" ON "pubsub_node_events" USING btree ("node_id","item_id") WHERE "pubsub_node_events"."payload" is not null;
