// The hardware generator: the devices a simulated host boots with, derived from its config
// alone, so the same config always gives the same addresses, groups and serial numbers.

import { createHash } from 'node:crypto';
import type { DiscoveredDevice } from '../../backend.ts';
import { GPU_MODELS, HDA_DRIVER, NVME_DRIVER, NVME_MODELS, USB_DRIVER, USB_MODELS, VFIO_DRIVER } from './catalog.ts';
import type { SimHostConfig } from './config.ts';

/** A device as the simulated host keeps it. */
export interface SimDevice extends DiscoveredDevice {
  /** The driver attach gives it back to. */
  hostDriver: string | null;
}

/** A stable pseudo-random string from `seed`: the same host always gets the same serials. */
function derived(seed: string, alphabet: string, length: number): string {
  let out = '';
  let block = createHash('sha256').update(seed).digest();
  let counter = 0;
  while (out.length < length) {
    for (const byte of block) {
      if (out.length >= length) break;
      out += alphabet[byte % alphabet.length];
    }
    block = createHash('sha256').update(`${seed}#${++counter}`).digest();
  }
  return out;
}

const PCI_CLASS_HD_AUDIO = '040300';
const PCI_CLASS_NVME = '010802';
// A simulated card has no board vendor or stepping to report.
const NOT_MODELLED = { subsystemVendorId: null, subsystemProductId: null, revision: null };
const DIGITS = '0123456789';
const UPPER_ALNUM = '0123456789ABCDEFGHJKLMNPQRSTVWXYZ';

function hex2(n: number) {
  return n.toString(16).padStart(2, '0');
}

/**
 * The devices a host boots with, in a layout like a two-socket server: GPUs spread over the
 * NUMA nodes (the first half on node 0, with low bus numbers; the rest on node 1), each GPU
 * in its own IOMMU group shared with its HDMI audio function, NVMe drives near the root of
 * node 0, USB devices on the first root ports.
 */
export function buildDevices(config: SimHostConfig): SimDevice[] {
  const host = config.name ?? 'sim-host';
  const numaNodes = config.numaNodes ?? 1;
  const devices: SimDevice[] = [];
  let iommuGroup = 20;

  const gpus = (config.gpus ?? []).flatMap((spec) =>
    Array.from({ length: spec.count ?? 1 }, () => ({ model: spec.model, pooled: spec.pooled ?? false })),
  );
  const perNode = Math.ceil(gpus.length / numaNodes) || 1;
  // Each node owns a slice of the bus numbers; GPUs sit on evenly spaced root ports in it.
  const span = Math.floor(0xe0 / numaNodes);
  gpus.forEach((gpu, index) => {
    const node = Math.min(numaNodes - 1, Math.floor(index / perNode));
    const slot = index - node * perNode;
    const step = Math.max(1, Math.floor((span - 0x10) / perNode));
    const bus = 0x10 + node * span + 0x07 + slot * step;
    const model = GPU_MODELS[gpu.model];
    const group = iommuGroup++;
    const numaNode = config.iommuEnabled === false ? null : node;
    devices.push({
      kind: 'GPU',
      address: `0000:${hex2(bus)}:00.0`,
      vendorId: model.vendorId,
      productId: model.productId,
      vendorName: model.vendorName,
      productName: model.productName,
      classCode: model.classCode,
      ...NOT_MODELLED,
      serial: null, // sysfs has no serial for PCI display controllers; the real backend reports none either
      iommuGroup: config.iommuEnabled === false ? null : group,
      numaNode,
      driver: gpu.pooled ? VFIO_DRIVER : model.driver,
      hostDriver: model.driver,
      inUse: null,
    });
    if (model.audio) {
      devices.push({
        kind: 'PCI',
        address: `0000:${hex2(bus)}:00.1`,
        vendorId: model.vendorId,
        productId: model.audio.productId,
        vendorName: model.vendorName,
        productName: model.audio.productName,
        classCode: PCI_CLASS_HD_AUDIO,
        ...NOT_MODELLED,
        serial: null,
        iommuGroup: config.iommuEnabled === false ? null : group,
        numaNode,
        driver: gpu.pooled ? VFIO_DRIVER : HDA_DRIVER,
        hostDriver: HDA_DRIVER,
        inUse: null,
      });
    }
  });

  let nvmeIndex = 0;
  for (const spec of config.nvme ?? []) {
    const model = NVME_MODELS[spec.model];
    for (let i = 0; i < (spec.count ?? 1); i++) {
      const index = nvmeIndex++;
      const serial = model.serialPrefix + derived(`${host}/nvme/${index}`, UPPER_ALNUM, model.serialLength - model.serialPrefix.length);
      devices.push({
        kind: 'NVME',
        address: `0000:${hex2(0x01 + index)}:00.0`,
        vendorId: model.vendorId,
        productId: model.productId,
        vendorName: model.vendorName,
        productName: model.productName,
        classCode: PCI_CLASS_NVME,
        ...NOT_MODELLED,
        serial,
        iommuGroup: config.iommuEnabled === false ? null : iommuGroup++,
        numaNode: config.iommuEnabled === false ? null : 0,
        driver: spec.pooled ? VFIO_DRIVER : NVME_DRIVER,
        hostDriver: NVME_DRIVER,
        // Only the first drive of an entry is the one the host uses (its boot disk, say).
        inUse: i === 0 ? (spec.inUseBy ?? null) : null,
      });
    }
  }

  let usbIndex = 0;
  for (const spec of config.usb ?? []) {
    const model = USB_MODELS[spec.model];
    for (let i = 0; i < (spec.count ?? 1); i++) {
      const index = usbIndex++;
      devices.push({
        kind: 'USB',
        address: `${1 + Math.floor(index / 8)}-${(index % 8) + 1}`,
        vendorId: model.vendorId,
        productId: model.productId,
        vendorName: model.vendorName,
        productName: model.productName,
        classCode: null,
        ...NOT_MODELLED,
        serial: model.serial === 'digits20' ? derived(`${host}/usb/${index}`, DIGITS, 20) : null,
        iommuGroup: null,
        numaNode: null,
        // USB devices stay on the host's usb driver: libvirt passes them to QEMU through usbfs.
        driver: USB_DRIVER,
        hostDriver: USB_DRIVER,
        inUse: null,
      });
    }
  }
  return devices;
}
