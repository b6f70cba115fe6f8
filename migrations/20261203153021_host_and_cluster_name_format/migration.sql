ALTER TABLE "clusters" DROP CONSTRAINT "clusters_name_length";--> statement-breakpoint
ALTER TABLE "hosts" DROP CONSTRAINT "hosts_name_length";--> statement-breakpoint
ALTER TABLE "clusters" ADD CONSTRAINT "clusters_name_format" CHECK ("name" ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');--> statement-breakpoint
ALTER TABLE "hosts" ADD CONSTRAINT "hosts_name_format" CHECK ("name" ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');