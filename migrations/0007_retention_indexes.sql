CREATE INDEX "events_at_idx" ON "events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "audit_log_retention_idx" ON "audit_log" USING btree ((coalesce("received_at", "answered_at")));--> statement-breakpoint
CREATE INDEX "presence_sessions_expires_at_idx" ON "presence_sessions" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "caps_cache_eviction_idx" ON "caps_cache" USING btree ("verified","fetched_at");--> statement-breakpoint
CREATE INDEX "roster_cache_fetched_at_idx" ON "roster_cache" USING btree ("fetched_at");
