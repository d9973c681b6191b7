CREATE TABLE "caps_cache" (
	"hash" text NOT NULL,
	"ver" text NOT NULL,
	"features" jsonb NOT NULL,
	"identities" jsonb NOT NULL,
	"verified" text NOT NULL,
	"fetched_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone,
	CONSTRAINT "caps_cache_hash_ver_pk" PRIMARY KEY("hash","ver")
);
--> statement-breakpoint
CREATE TABLE "presence_sessions" (
	"full_jid" text PRIMARY KEY NOT NULL,
	"bare_jid" text NOT NULL,
	"caps_node" text,
	"caps_ver" text,
	"caps_hash" text,
	"available_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pubsub_affiliations" (
	"node_id" bigint NOT NULL,
	"jid" text NOT NULL,
	"affiliation" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "pubsub_affiliations_node_id_jid_pk" PRIMARY KEY("node_id","jid")
);
--> statement-breakpoint
CREATE TABLE "pubsub_subscriptions" (
	"node_id" bigint NOT NULL,
	"jid" text NOT NULL,
	"subid" text NOT NULL,
	"state" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "pubsub_subscriptions_node_id_jid_pk" PRIMARY KEY("node_id","jid")
);
--> statement-breakpoint
CREATE TABLE "roster_cache" (
	"owner" text PRIMARY KEY NOT NULL,
	"items" jsonb NOT NULL,
	"fetched_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "pubsub_affiliations" ADD CONSTRAINT "pubsub_affiliations_node_id_pubsub_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "public"."pubsub_nodes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pubsub_subscriptions" ADD CONSTRAINT "pubsub_subscriptions_node_id_pubsub_nodes_id_fk" FOREIGN KEY ("node_id") REFERENCES "public"."pubsub_nodes"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "presence_sessions_bare_jid_idx" ON "presence_sessions" USING btree ("bare_jid");--> statement-breakpoint
CREATE INDEX "pubsub_subscriptions_jid_idx" ON "pubsub_subscriptions" USING btree ("jid");