CREATE TABLE "pubsub_items" (
	"node_id" bigint NOT NULL,
	"item_id" text NOT NULL,
	"payload" text NOT NULL,
	"publisher" text,
	"published_seq" bigint NOT NULL,
	"published_at" timestamp with time zone NOT NULL,
	CONSTRAINT "pubsub_items_node_id_item_id_pk" PRIMARY KEY("node_id","item_id")
);
--> statement-breakpoint
CREATE TABLE "pubsub_node_events" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"node_id" bigint NOT NULL,
	"kind" text NOT NULL,
	"item_id" text,
	"payload" text,
	"publisher" text,
	"request_id" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pubsub_nodes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"service" text NOT NULL,
	"node" text NOT NULL,
	"config" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "pubsub_items" ADD CONSTRAINT "pubsub_items_node_id_pubsub_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "public"."pubsub_nodes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pubsub_node_events" ADD CONSTRAINT "pubsub_node_events_node_id_pubsub_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "public"."pubsub_nodes"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "pubsub_items_node_published_seq_idx" ON "pubsub_items" USING btree ("node_id","published_seq");--> statement-breakpoint
CREATE INDEX "pubsub_node_events_node_seq_idx" ON "pubsub_node_events" USING btree ("node_id","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "pubsub_node_events_request_id_key" ON "pubsub_node_events" USING btree ("request_id") WHERE "pubsub_node_events"."request_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "pubsub_nodes_service_node_key" ON "pubsub_nodes" USING btree ("service","node");