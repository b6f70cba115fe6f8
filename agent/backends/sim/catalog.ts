// Real hardware for simulated hosts: IDs and names exactly as Debian's hwdata pci.ids / usb.ids
// spell them, and the drivers Linux binds, so a simulated host reports what a real one would.

export interface GpuModel {
  vendorId: string;
  productId: string;
  vendorName: string;
  productName: string;
  /** PCI class code: 030000 for a VGA card, 030200 for a 3D controller without display outputs. */
  classCode: string;
  /** The host driver the card is bound to when it is not pooled. */
  driver: string;
  /**
   * The HDMI/DP audio function (function 1 of the same slot, same IOMMU group) that consumer
   * cards carry; datacenter cards without display outputs have none.
   */
  audio: { productId: string; productName: string } | null;
}

export interface UsbModel {
  vendorId: string;
  productId: string;
  vendorName: string;
  productName: string;
  /** Format of the iSerial string, or null when the device reports none. */
  serial: 'digits20' | null;
}

export interface NvmeModel {
  vendorId: string;
  productId: string;
  vendorName: string;
  productName: string;
  /** Serial number prefix; the rest is derived from the host name and slot. */
  serialPrefix: string;
  serialLength: number;
}

const NVIDIA = 'NVIDIA Corporation';
const AMD = 'Advanced Micro Devices, Inc. [AMD/ATI]';

export const GPU_MODELS = {
  'rtx-3090': {
    vendorId: '10de',
    productId: '2204',
    vendorName: NVIDIA,
    productName: 'GA102 [GeForce RTX 3090]',
    classCode: '030000',
    driver: 'nvidia',
    audio: { productId: '1aef', productName: 'GA102 High Definition Audio Controller' },
  },
  'rtx-4090': {
    vendorId: '10de',
    productId: '2684',
    vendorName: NVIDIA,
    productName: 'AD102 [GeForce RTX 4090]',
    classCode: '030000',
    driver: 'nvidia',
    audio: { productId: '22ba', productName: 'AD102 High Definition Audio Controller' },
  },
  'rtx-a6000': {
    vendorId: '10de',
    productId: '2230',
    vendorName: NVIDIA,
    productName: 'GA102GL [RTX A6000]',
    classCode: '030000',
    driver: 'nvidia',
    audio: { productId: '1aef', productName: 'GA102 High Definition Audio Controller' },
  },
  'a100-80g': {
    vendorId: '10de',
    productId: '20b5',
    vendorName: NVIDIA,
    productName: 'GA100 [A100 PCIe 80GB]',
    classCode: '030200',
    driver: 'nvidia',
    audio: null,
  },
  mi210: {
    vendorId: '1002',
    productId: '740f',
    vendorName: AMD,
    productName: 'Aldebaran/MI200 [Instinct MI210]',
    classCode: '038000',
    driver: 'amdgpu',
    audio: null,
  },
} satisfies Record<string, GpuModel>;

export const USB_MODELS = {
  'logitech-unifying': {
    vendorId: '046d',
    productId: 'c52b',
    vendorName: 'Logitech, Inc.',
    productName: 'Unifying Receiver',
    serial: null,
  },
  'sandisk-ultra-fit': {
    vendorId: '0781',
    productId: '5583',
    vendorName: 'SanDisk Corp.',
    productName: 'Ultra Fit',
    serial: 'digits20',
  },
  yubikey: {
    vendorId: '1050',
    productId: '0407',
    vendorName: 'Yubico.com',
    productName: 'Yubikey 4/5 OTP+U2F+CCID',
    serial: null,
  },
} satisfies Record<string, UsbModel>;

export const NVME_MODELS = {
  'samsung-pm9a3': {
    vendorId: '144d',
    productId: 'a80a',
    vendorName: 'Samsung Electronics Co Ltd',
    productName: 'NVMe SSD Controller PM9A1/PM9A3/980PRO',
    serialPrefix: 'S64FNE0R',
    serialLength: 14,
  },
  'intel-p5510': {
    vendorId: '8086',
    productId: '0b60',
    vendorName: 'Intel Corporation',
    productName: 'NVMe DC SSD [3DNAND, Sentinel Rock Controller]',
    serialPrefix: 'PHAB',
    serialLength: 18,
  },
} satisfies Record<string, NvmeModel>;

export type GpuModelName = keyof typeof GPU_MODELS;
export type UsbModelName = keyof typeof USB_MODELS;
export type NvmeModelName = keyof typeof NVME_MODELS;

/** Driver names Linux uses for the non-GPU functions. */
export const HDA_DRIVER = 'snd_hda_intel';
export const NVME_DRIVER = 'nvme';
export const USB_DRIVER = 'usb';
export { VFIO_DRIVER } from '../../../protocol/rules.ts';
