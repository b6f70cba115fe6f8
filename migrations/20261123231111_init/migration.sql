CREATE TYPE "device_kind" AS ENUM('GPU', 'USB', 'NVME', 'PCI');--> statement-breakpoint
CREATE TYPE "device_status" AS ENUM('ATTACHED', 'DETACHED', 'ASSIGNED', 'DETACHING', 'ATTACHING', 'ASSIGNING', 'RELEASING', 'MISSING');--> statement-breakpoint
CREATE TYPE "host_status" AS ENUM('ONLINE', 'OFFLINE');--> statement-breakpoint
CREATE TYPE "operation_status" AS ENUM('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED');--> statement-breakpoint
CREATE TYPE "operation_type" AS ENUM('DETACH', 'ATTACH', 'ASSIGN', 'RELEASE', 'PROVISION', 'TEARDOWN', 'START_VM', 'STOP_VM');--> statement-breakpoint
CREATE TYPE "provision_type" AS ENUM('KVM', 'LXC', 'BARE_METAL');--> statement-breakpoint
CREATE TYPE "vm_status" AS ENUM('PROVISIONING', 'RUNNING', 'STOPPED', 'STARTING', 'STOPPING', 'DELETING', 'DELETED', 'FAILED');--> statement-breakpoint
CREATE TABLE "clusters" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	"name" text NOT NULL UNIQUE,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "clusters_name_length" CHECK (char_length("name") between 1 and 64)
);
--> statement-breakpoint
CREATE TABLE "hosts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	"cluster_id" uuid NOT NULL,
	"name" text NOT NULL UNIQUE,
	"status" "host_status" DEFAULT 'OFFLINE'::"host_status" NOT NULL,
	"last_seen_at" timestamp with time zone,
	"cpu_cores" integer,
	"memory_mb" integer,
	"iommu_enabled" boolean DEFAULT false NOT NULL,
	"token_hash" text NOT NULL UNIQUE,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "hosts_name_length" CHECK (char_length("name") between 1 and 64)
);
--> statement-breakpoint
CREATE TABLE "service_plans" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	"name" text NOT NULL UNIQUE,
	"provision_type" "provision_type" NOT NULL,
	"cores" integer NOT NULL,
	"memory_mb" integer NOT NULL,
	"disk_gb" integer NOT NULL,
	"gpu_count" integer DEFAULT 0 NOT NULL,
	"gpu_vendor_id" text,
	"gpu_product_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "service_plans_name_length" CHECK (char_length("name") between 1 and 64),
	CONSTRAINT "service_plans_cores_range" CHECK ("cores" between 1 and 1024),
	CONSTRAINT "service_plans_memory_range" CHECK ("memory_mb" between 64 and 16777216),
	CONSTRAINT "service_plans_disk_range" CHECK ("disk_gb" between 0 and 1048576),
	CONSTRAINT "service_plans_gpu_count_range" CHECK ("gpu_count" between 0 and 64),
	CONSTRAINT "service_plans_gpus_only_for_kvm" CHECK ("gpu_count" = 0 or "provision_type" = 'KVM'),
	CONSTRAINT "service_plans_gpu_product_needs_vendor" CHECK ("gpu_product_id" is null or "gpu_vendor_id" is not null)
);
--> statement-breakpoint
CREATE TABLE "vms" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	"name" text NOT NULL,
	"host_id" uuid NOT NULL,
	"plan_id" uuid,
	"cores" integer NOT NULL,
	"memory_mb" integer NOT NULL,
	"disk_gb" integer NOT NULL,
	"status" "vm_status" DEFAULT 'PROVISIONING'::"vm_status" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone,
	CONSTRAINT "vms_id_host_unique" UNIQUE("id","host_id"),
	CONSTRAINT "vms_name_format" CHECK ("name" ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$')
);
--> statement-breakpoint
CREATE TABLE "device_events" (
	"id" bigserial PRIMARY KEY,
	"device_id" uuid NOT NULL,
	"from_status" "device_status",
	"to_status" "device_status" NOT NULL,
	"vm_id" uuid,
	"operation_id" uuid,
	"actor" text NOT NULL,
	"note" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "devices" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	"host_id" uuid NOT NULL,
	"kind" "device_kind" NOT NULL,
	"address" text NOT NULL,
	"vendor_id" text NOT NULL,
	"product_id" text NOT NULL,
	"vendor_name" text,
	"product_name" text,
	"serial" text,
	"iommu_group" integer,
	"numa_node" integer,
	"driver" text,
	"status" "device_status" NOT NULL,
	"vm_id" uuid,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "devices_host_address_unique" UNIQUE("host_id","address"),
	CONSTRAINT "devices_vm_matches_status" CHECK (("status" in ('ASSIGNING', 'ASSIGNED', 'RELEASING')) = ("vm_id" is not null))
);
--> statement-breakpoint
CREATE TABLE "operation_devices" (
	"operation_id" uuid,
	"device_id" uuid,
	"from_status" "device_status" NOT NULL,
	CONSTRAINT "operation_devices_pkey" PRIMARY KEY("operation_id","device_id")
);
--> statement-breakpoint
CREATE TABLE "operations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	"type" "operation_type" NOT NULL,
	"status" "operation_status" DEFAULT 'PENDING'::"operation_status" NOT NULL,
	"host_id" uuid NOT NULL,
	"vm_id" uuid,
	"vm_from_status" "vm_status",
	"actor" text NOT NULL,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"deadline_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "vms_live_name_unique" ON "vms" ("name") WHERE "status" <> 'DELETED';--> statement-breakpoint
CREATE INDEX "device_events_device_idx" ON "device_events" ("device_id","at");--> statement-breakpoint
CREATE INDEX "devices_vm_idx" ON "devices" ("vm_id");--> statement-breakpoint
CREATE INDEX "devices_status_kind_idx" ON "devices" ("status","kind");--> statement-breakpoint
CREATE INDEX "operation_devices_device_idx" ON "operation_devices" ("device_id");--> statement-breakpoint
CREATE INDEX "operations_created_idx" ON "operations" ("created_at");--> statement-breakpoint
CREATE INDEX "operations_host_status_idx" ON "operations" ("host_id","status");--> statement-breakpoint
ALTER TABLE "hosts" ADD CONSTRAINT "hosts_cluster_id_clusters_id_fkey" FOREIGN KEY ("cluster_id") REFERENCES "clusters"("id") ON DELETE RESTRICT;--> statement-breakpoint
ALTER TABLE "vms" ADD CONSTRAINT "vms_host_id_hosts_id_fkey" FOREIGN KEY ("host_id") REFERENCES "hosts"("id") ON DELETE RESTRICT;--> statement-breakpoint
ALTER TABLE "vms" ADD CONSTRAINT "vms_plan_id_service_plans_id_fkey" FOREIGN KEY ("plan_id") REFERENCES "service_plans"("id") ON DELETE RESTRICT;--> statement-breakpoint
ALTER TABLE "device_events" ADD CONSTRAINT "device_events_device_id_devices_id_fkey" FOREIGN KEY ("device_id") REFERENCES "devices"("id") ON DELETE CASCADE;--> statement-breakpoint
ALTER TABLE "device_events" ADD CONSTRAINT "device_events_vm_id_vms_id_fkey" FOREIGN KEY ("vm_id") REFERENCES "vms"("id");--> statement-breakpoint
ALTER TABLE "device_events" ADD CONSTRAINT "device_events_operation_id_operations_id_fkey" FOREIGN KEY ("operation_id") REFERENCES "operations"("id");--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_host_id_hosts_id_fkey" FOREIGN KEY ("host_id") REFERENCES "hosts"("id") ON DELETE CASCADE;--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_vm_same_host_fk" FOREIGN KEY ("vm_id","host_id") REFERENCES "vms"("id","host_id");--> statement-breakpoint
ALTER TABLE "operation_devices" ADD CONSTRAINT "operation_devices_operation_id_operations_id_fkey" FOREIGN KEY ("operation_id") REFERENCES "operations"("id") ON DELETE CASCADE;--> statement-breakpoint
ALTER TABLE "operation_devices" ADD CONSTRAINT "operation_devices_device_id_devices_id_fkey" FOREIGN KEY ("device_id") REFERENCES "devices"("id") ON DELETE CASCADE;--> statement-breakpoint
ALTER TABLE "operations" ADD CONSTRAINT "operations_host_id_hosts_id_fkey" FOREIGN KEY ("host_id") REFERENCES "hosts"("id") ON DELETE CASCADE;--> statement-breakpoint
ALTER TABLE "operations" ADD CONSTRAINT "operations_vm_id_vms_id_fkey" FOREIGN KEY ("vm_id") REFERENCES "vms"("id");