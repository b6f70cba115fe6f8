-- PCI functions that share an IOMMU group are held by one VM at most: VFIO hands a whole group to
-- one guest. An exclusion constraint, not a trigger: it also sees rows written by transactions
-- that have not committed yet, so two racing writers cannot split a group between them.
-- A device without a group (NULL) conflicts with nothing; USB devices have no group of their own.
-- Checked at commit: a transaction that moves a whole group from one VM to another (an inventory
-- report following the host) passes through rows that disagree, and ends with rows that agree.
CREATE EXTENSION IF NOT EXISTS "btree_gist";
--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_iommu_group_one_vm"
  EXCLUDE USING gist ("host_id" WITH =, "iommu_group" WITH =, "vm_id" WITH <>)
  WHERE ("vm_id" IS NOT NULL AND "kind" <> 'USB')
  DEFERRABLE INITIALLY DEFERRED;
