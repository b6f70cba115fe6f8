import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';

/** What a device row shows, on a host's or a VM's Devices tab. */
export const DeviceRowFields = graphql(`
  fragment DeviceRowFields on Device {
    id
    kind
    name
    address
    vendorId
    productId
    vendorName
    productName
    classCode
    subsystemVendorId
    subsystemProductId
    revision
    serial
    iommuGroup
    numaNode
    driver
    inUse
    status
    updatedAt
    host { id name }
    vm { id name }
    iommuGroupMembers { id kind name address }
    actions { action enabled reason deviceIds }
  }
`);

export type DeviceRowData = ResultOf<typeof DeviceRowFields>;
export type DeviceStatus = DeviceRowData['status'];
export type DeviceKind = DeviceRowData['kind'];
/** One action the server says the device offers now, enabled or with the reason it is not. */
export type DeviceActionOption = DeviceRowData['actions'][number];
export type DeviceAction = DeviceActionOption['action'];
export type GroupMember = DeviceRowData['iommuGroupMembers'][number];

/** The other devices `option` moves along with `device` (its IOMMU group-mates), as the server listed them. */
export function movedAlong(device: DeviceRowData, option: DeviceActionOption): GroupMember[] {
  const moved = new Set(option.deviceIds);
  return device.iommuGroupMembers.filter((member) => member.id !== device.id && moved.has(member.id));
}

/** A VM the assign dialog offers. */
export interface AssignableVm {
  id: string;
  name: string;
  status: string;
}
