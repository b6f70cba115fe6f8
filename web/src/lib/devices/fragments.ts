import { graphql, type ResultOf } from '../api/graphql.ts';

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
    status
    updatedAt
    host { id name }
    vm { id name }
  }
`);

export type DeviceRowData = ResultOf<typeof DeviceRowFields>;
export type DeviceStatus = DeviceRowData['status'];
export type DeviceKind = DeviceRowData['kind'];

/** A VM the assign dialog offers. */
export interface AssignableVm {
  id: string;
  name: string;
  status: string;
}
