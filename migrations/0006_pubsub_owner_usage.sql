CREATE TABLE "pubsub_owner_usage" (
	"service" text PRIMARY KEY NOT NULL,
	"nodes" integer DEFAULT 0 NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
INSERT INTO "pubsub_owner_usage" ("service", "nodes", "bytes")
SELECT n."service", count(*), coalesce(sum(i."bytes"), 0)
FROM "pubsub_nodes" n
LEFT JOIN (SELECT "node_id", sum(octet_length("payload")) AS "bytes" FROM "pubsub_items" GROUP BY "node_id") i ON i."node_id" = n."id"
WHERE n."deleted_at" IS NULL
GROUP BY n."service";
