import { defineRelations } from 'drizzle-orm';
import * as schema from './schema/index.ts';

export const relations = defineRelations(schema, (r) => ({
  clusters: {
    hosts: r.many.hosts(),
  },
  hosts: {
    cluster: r.one.clusters({ from: r.hosts.clusterId, to: r.clusters.id, optional: false }),
    devices: r.many.devices(),
    vms: r.many.vms(),
    operations: r.many.operations(),
  },
  devices: {
    host: r.one.hosts({ from: r.devices.hostId, to: r.hosts.id, optional: false }),
    vm: r.one.vms({ from: r.devices.vmId, to: r.vms.id }),
    events: r.many.deviceEvents(),
    // The PCI functions sharing its IOMMU group on its host, itself included; none without a group.
    iommuGroupMembers: r.many.devices({
      from: [r.devices.hostId, r.devices.iommuGroup],
      to: [r.devices.hostId, r.devices.iommuGroup],
      where: { kind: { ne: 'USB' } },
    }),
    operations: r.many.operations({
      from: r.devices.id.through(r.operationDevices.deviceId),
      to: r.operations.id.through(r.operationDevices.operationId),
    }),
  },
  deviceEvents: {
    device: r.one.devices({ from: r.deviceEvents.deviceId, to: r.devices.id, optional: false }),
    vm: r.one.vms({ from: r.deviceEvents.vmId, to: r.vms.id }),
    operation: r.one.operations({ from: r.deviceEvents.operationId, to: r.operations.id }),
  },
  vms: {
    host: r.one.hosts({ from: r.vms.hostId, to: r.hosts.id, optional: false }),
    plan: r.one.servicePlans({ from: r.vms.planId, to: r.servicePlans.id }),
    devices: r.many.devices(),
  },
  servicePlans: {
    vms: r.many.vms(),
  },
  users: {
    apiTokens: r.many.apiTokens(),
  },
  apiTokens: {
    user: r.one.users({ from: r.apiTokens.userId, to: r.users.id, optional: false }),
  },
  operations: {
    host: r.one.hosts({ from: r.operations.hostId, to: r.hosts.id, optional: false }),
    vm: r.one.vms({ from: r.operations.vmId, to: r.vms.id }),
    devices: r.many.devices({
      from: r.operations.id.through(r.operationDevices.operationId),
      to: r.devices.id.through(r.operationDevices.deviceId),
    }),
  },
}));

export type Relations = typeof relations;
