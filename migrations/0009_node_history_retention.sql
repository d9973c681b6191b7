-- Retention of the pubsub node log (README "Retention"): entries by age, deleted nodes' tombstones by the time of the delete.
-- IF NOT EXISTS: on a large log an operator may build them beforehand with CREATE INDEX CONCURRENTLY (this build blocks writes to the table).
CREATE INDEX IF NOT EXISTS "pubsub_node_events_at_idx" ON "pubsub_node_events" USING btree ("at");--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "pubsub_nodes_deleted_at_idx" ON "pubsub_nodes" USING btree ("deleted_at") WHERE "pubsub_nodes"."deleted_at" is not null;
