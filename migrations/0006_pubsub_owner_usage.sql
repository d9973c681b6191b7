CREATE TABLE "pubsub_owner_usage" (
	"service" text PRIMARY KEY NOT NULL,
	"nodes" integer DEFAULT 0 NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
-- Counted under the normalised owner JID (lowercased, no trailing dot of the domain), one live node per
-- owner and name (the oldest), as migration 0008 leaves them: whichever of the two runs first on a database
-- with data, the counts match the nodes after both.
INSERT INTO "pubsub_owner_usage" ("service", "nodes", "bytes")
SELECT k."svc", count(*), coalesce(sum(i."bytes"), 0)
FROM (
  SELECT n."id", f."svc", row_number() OVER (PARTITION BY f."svc", n."node" ORDER BY n."created_at", n."id") AS "rn"
  FROM "pubsub_nodes" n
  CROSS JOIN LATERAL (SELECT CASE WHEN right(lower(n."service"), 1) = '.' THEN left(lower(n."service"), -1) ELSE lower(n."service") END AS "svc") f
  WHERE n."deleted_at" IS NULL
) k
LEFT JOIN (SELECT "node_id", sum(octet_length("payload")) AS "bytes" FROM "pubsub_items" GROUP BY "node_id") i ON i."node_id" = k."id"
WHERE k."rn" = 1
GROUP BY k."svc";
