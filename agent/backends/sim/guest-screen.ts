// What the simulated guest shows on its graphics console: no fonts, just a picture that says
// something true and can be checked pixel by pixel. A dark desktop with a title band across the
// top, and one coloured block per device passed through to the VM, in the order the domain holds
// them (left to right, wrapping), coloured by kind. Read when drawn, so a device assigned or
// released while the console is open appears or goes.

import type { DeviceKind, DiscoveredDevice } from '../../backend.ts';
import type { Screen } from './rfb-server.ts';

export const GUEST_SCREEN = {
  width: 640,
  height: 400,
  background: 0x0f1521,
  band: { color: 0x3d6df2, height: 40 },
  /** Blocks: `size` square, `gap` apart, the first at (`left`, `top`). */
  blocks: { left: 32, top: 80, size: 48, gap: 16 },
  colors: { GPU: 0x76b900, USB: 0xf2a33a, NVME: 0xa06cd5, PCI: 0x7aa2ff } satisfies Record<DeviceKind, number>,
} as const;

/** The top-left corner of the `index`th device block. */
export function blockAt(index: number): { x: number; y: number } {
  const { left, top, size, gap } = GUEST_SCREEN.blocks;
  const perRow = Math.floor((GUEST_SCREEN.width - left) / (size + gap));
  return { x: left + (index % perRow) * (size + gap), y: top + Math.floor(index / perRow) * (size + gap) };
}

function fill(pixels: Uint32Array, x: number, y: number, width: number, height: number, color: number) {
  for (let row = y; row < Math.min(y + height, GUEST_SCREEN.height); row++) {
    pixels.fill(color, row * GUEST_SCREEN.width + x, row * GUEST_SCREEN.width + Math.min(x + width, GUEST_SCREEN.width));
  }
}

/** The screen of VM `vmName`, whose passthrough devices `devices()` gives. */
export function guestScreen(vmName: string, devices: () => DiscoveredDevice[]): Screen {
  const { width, height, background, band, blocks, colors } = GUEST_SCREEN;
  return {
    width,
    height,
    name: vmName,
    pixels() {
      const pixels = new Uint32Array(width * height).fill(background);
      fill(pixels, 0, 0, width, band.height, band.color);
      devices().forEach((device, index) => {
        const { x, y } = blockAt(index);
        fill(pixels, x, y, blocks.size, blocks.size, colors[device.kind]);
      });
      return pixels;
    },
  };
}
