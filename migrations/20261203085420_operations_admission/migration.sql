-- Admission control: a host may have at most passthru.max_queued_operations_per_host operations
-- queued or running (the server sets it on each of its connections from
-- PASSTHRU_MAX_QUEUED_OPERATIONS_PER_HOST; unset means no bound). Refused with SQLSTATE PT429 and
-- the counts as JSON in the detail (server/db/errors.ts admissionRefusal). Counted under READ
-- COMMITTED, so inserts racing on one host can pass it together: it bounds a queue against
-- overload, it is not a lock.
CREATE FUNCTION "operations_admit"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  "limit" int := nullif(current_setting('passthru.max_queued_operations_per_host', true), '')::int;
  queued int;
BEGIN
  IF "limit" IS NULL THEN
    RETURN NEW;
  END IF;
  SELECT count(*) INTO queued FROM "operations" WHERE "host_id" = NEW."host_id" AND "status" IN ('PENDING', 'RUNNING');
  IF queued >= "limit" THEN
    RAISE EXCEPTION 'host % has % operations queued or running, its limit', NEW."host_id", queued
      USING ERRCODE = 'PT429', DETAIL = json_build_object('host', NEW."host_id", 'queued', queued, 'limit', "limit")::text;
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "operations_admit" BEFORE INSERT ON "operations" FOR EACH ROW EXECUTE FUNCTION "operations_admit"();
