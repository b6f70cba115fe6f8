-- Every statement that appends to the change log wakes the listening server processes on the
-- channel server/db/client.ts listens on (NOTIFY_CHANNEL), so no writer has to remember to.
-- Notifications are sent at commit and only if it commits.
CREATE FUNCTION "change_log_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('passthru_changes', '');
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "change_log_notifies" AFTER INSERT ON "change_log" FOR EACH STATEMENT EXECUTE FUNCTION "change_log_notify"();
