CREATE TABLE "privileges" (
	"server" text NOT NULL,
	"component" text NOT NULL,
	"version" text NOT NULL,
	"perms" jsonb NOT NULL,
	"advertised_at" timestamp with time zone NOT NULL,
	"event_id" uuid NOT NULL,
	CONSTRAINT "privileges_server_component_pk" PRIMARY KEY("server","component")
);
