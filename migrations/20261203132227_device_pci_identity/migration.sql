ALTER TABLE "devices" ADD COLUMN "class_code" text;--> statement-breakpoint
ALTER TABLE "devices" ADD COLUMN "subsystem_vendor_id" text;--> statement-breakpoint
ALTER TABLE "devices" ADD COLUMN "subsystem_product_id" text;--> statement-breakpoint
ALTER TABLE "devices" ADD COLUMN "revision" text;--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_pci_identity_hex" CHECK ("class_code" ~ '^[0-9a-f]{6}$' and "subsystem_vendor_id" ~ '^[0-9a-f]{4}$' and "subsystem_product_id" ~ '^[0-9a-f]{4}$' and "revision" ~ '^[0-9a-f]{2}$');