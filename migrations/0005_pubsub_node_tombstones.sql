DROP INDEX "pubsub_nodes_service_node_key";--> statement-breakpoint
ALTER TABLE "pubsub_nodes" ADD COLUMN "deleted_at" timestamp with time zone;--> statement-breakpoint
CREATE UNIQUE INDEX "pubsub_nodes_service_node_live_key" ON "pubsub_nodes" USING btree ("service","node") WHERE "pubsub_nodes"."deleted_at" is null;