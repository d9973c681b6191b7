CREATE TABLE "audit_log" (
	"request_id" text PRIMARY KEY NOT NULL,
	"server" text NOT NULL,
	"component" text NOT NULL,
	"requester" text,
	"target" text,
	"namespace" text,
	"iq_type" text,
	"iq_id" text,
	"route" text,
	"subject" text,
	"outcome" text DEFAULT 'pending' NOT NULL,
	"condition" text,
	"reason" text,
	"latency_ms" double precision,
	"worker" text,
	"trace_id" text,
	"received_at" timestamp with time zone,
	"answered_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" uuid PRIMARY KEY NOT NULL,
	"seq" bigserial NOT NULL,
	"type" text NOT NULL,
	"server" text NOT NULL,
	"component" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"trace_id" text,
	"payload" jsonb NOT NULL,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "events_seq_unique" UNIQUE("seq")
);
--> statement-breakpoint
CREATE TABLE "grants" (
	"server" text NOT NULL,
	"component" text NOT NULL,
	"namespace" text NOT NULL,
	"attributes" text[] DEFAULT '{}'::text[] NOT NULL,
	"version" text NOT NULL,
	"advertised_at" timestamp with time zone NOT NULL,
	"event_id" uuid NOT NULL,
	CONSTRAINT "grants_server_component_namespace_pk" PRIMARY KEY("server","component","namespace")
);
--> statement-breakpoint
CREATE INDEX "audit_log_requester_idx" ON "audit_log" USING btree ("requester" text_pattern_ops,"received_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_log_received_at_idx" ON "audit_log" USING btree ("received_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_log_namespace_idx" ON "audit_log" USING btree ("namespace","received_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "audit_log_outcome_idx" ON "audit_log" USING btree ("outcome","received_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_type_at_idx" ON "events" USING btree ("type","at");