-- PCI functions that share an IOMMU group are held by one VM at most: VFIO hands a whole group to
-- one guest. An exclusion constraint, not a trigger: it also sees rows written by transactions
-- that have not committed yet, so two racing writers cannot split a group between them.
-- A device without a group (NULL) conflicts with nothing; USB devices have no group of their own.
CREATE EXTENSION IF NOT EXISTS "btree_gist";
--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_iommu_group_one_vm"
  EXCLUDE USING gist ("host_id" WITH =, "iommu_group" WITH =, "vm_id" WITH <>)
  WHERE ("vm_id" IS NOT NULL AND "kind" <> 'USB');
