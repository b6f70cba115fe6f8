CREATE TABLE "change_log" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "change_log_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"topic" text NOT NULL,
	"payload" jsonb NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "change_log_horizon" (
	"singleton" boolean PRIMARY KEY DEFAULT true,
	"pruned_through" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "change_log_horizon_singleton" CHECK ("singleton")
);
--> statement-breakpoint
CREATE INDEX "change_log_at_idx" ON "change_log" ("at");--> statement-breakpoint
INSERT INTO "change_log_horizon" DEFAULT VALUES;
