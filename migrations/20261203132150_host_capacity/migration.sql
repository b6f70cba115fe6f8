CREATE INDEX "vms_live_host" ON "vms" ("host_id","memory_mb","cores") WHERE "status" <> 'DELETED';--> statement-breakpoint
CREATE INDEX "devices_model_idx" ON "devices" ("vendor_id","product_id","kind");
--> statement-breakpoint
-- The cores a host may give its VMs: its CPUs times passthru.cpu_allocation_ratio, which the
-- server sets on each of its connections from PASSTHRU_CPU_ALLOCATION_RATIO (unset means 1: no
-- overcommit). Placement (server/domain/placement.ts) and vms_fit_host below both count with it.
CREATE FUNCTION "host_cores_allowed"(cpu_cores int) RETURNS int LANGUAGE sql STABLE AS $$
  SELECT floor(cpu_cores * coalesce(nullif(current_setting('passthru.cpu_allocation_ratio', true), '')::numeric, 1))::int
$$;
--> statement-breakpoint
-- A live VM must fit its host: the memory of the host's live VMs never exceeds what its agent
-- reported (passthrough pins all guest memory, so it is never overcommitted; every VM counts as
-- pinned, since assignDevice can pass a device through to any VM later), nor their cores
-- host_cores_allowed; a host that has not reported its CPUs and memory takes no VM. Refused with
-- SQLSTATE PT507 and what is free as JSON in the detail (server/db/errors.ts capacityRefusal).
-- The advisory lock (the two-key space, apart from the change log's one-key lock) lets one
-- provision per host at a time past this point until it commits; the sums are read after it, by
-- a statement of their own, so they see every VM committed before: concurrent provisions cannot
-- together overcommit a host.
CREATE FUNCTION "vms_fit_host"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  host record;
  used_memory bigint;
  used_cores bigint;
  free_memory bigint;
  free_cores bigint;
  short text[] := '{}';
BEGIN
  IF NEW."status" = 'DELETED' THEN
    RETURN NEW;
  END IF;
  PERFORM pg_advisory_xact_lock(746122, hashtext(NEW."host_id"::text));
  SELECT "name", "cpu_cores", "memory_mb" INTO host FROM "hosts" WHERE "id" = NEW."host_id";
  SELECT coalesce(sum("memory_mb"), 0), coalesce(sum("cores"), 0) INTO used_memory, used_cores
    FROM "vms" WHERE "host_id" = NEW."host_id" AND "status" <> 'DELETED';
  free_memory := host."memory_mb" - used_memory;
  free_cores := host_cores_allowed(host."cpu_cores") - used_cores;
  IF free_cores IS NULL OR free_cores < NEW."cores" THEN
    short := short || 'CORES'::text;
  END IF;
  IF free_memory IS NULL OR free_memory < NEW."memory_mb" THEN
    short := short || 'MEMORY'::text;
  END IF;
  IF cardinality(short) > 0 THEN
    RAISE EXCEPTION 'VM % does not fit host %: short of %', NEW."name", host."name", array_to_string(short, ', ')
      USING ERRCODE = 'PT507', DETAIL = json_build_object('host', NEW."host_id", 'hostName', host."name", 'short', short,
        'freeCores', free_cores, 'freeMemoryMb', free_memory)::text;
  END IF;
  RETURN NEW;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "vms_fit_host" BEFORE INSERT ON "vms" FOR EACH ROW EXECUTE FUNCTION "vms_fit_host"();
