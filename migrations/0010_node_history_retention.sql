-- Retention of the pubsub node log (README "Retention"): entries by age, deleted nodes' tombstones by the time of the delete.
CREATE INDEX "pubsub_node_events_at_idx" ON "pubsub_node_events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "pubsub_nodes_deleted_at_idx" ON "pubsub_nodes" USING btree ("deleted_at") WHERE "pubsub_nodes"."deleted_at" is not null;
