import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import DeviceActionsMenu from './DeviceActionsMenu.svelte';
import type { DeviceActionOption } from './fragments.ts';

// The menu draws what the server offers (Device.actions): it keeps no list of its own.
const enabled = (action: DeviceActionOption['action']): DeviceActionOption => ({ action, enabled: true, reason: null, deviceIds: ['d1'] });
const DETACHED = { status: 'DETACHED' as const, actions: [enabled('ATTACH'), enabled('ASSIGN')] };
const IN_USE = "NVME 0000:41:00.0 is in use by the host: nvme0n1p2 is mounted at /; free it on the host first";

function button() {
  return screen.getByRole('button', { name: 'Actions for 0000:41:00.0' });
}

describe('device actions menu', () => {
  it('offers exactly the actions the server lists, in its order', async () => {
    render(DeviceActionsMenu, { ...DETACHED, name: '0000:41:00.0', onaction: () => {} });
    const trigger = button();
    expect(trigger.getAttribute('aria-haspopup')).toBe('menu');
    await fireEvent.click(trigger);
    expect(trigger.getAttribute('aria-expanded')).toBe('true');
    expect(screen.getAllByRole('menuitem').map((item) => item.textContent?.trim())).toEqual(['Attach device', 'Assign device']);
  });

  it('shows a disabled action with the reason the server gives, and does not run it', async () => {
    const onaction = vi.fn();
    render(DeviceActionsMenu, { status: 'ATTACHED', actions: [{ action: 'DETACH', enabled: false, reason: IN_USE, deviceIds: ['d1'] }], name: '0000:41:00.0', onaction });
    await fireEvent.click(button());
    const detach = screen.getByRole('menuitem', { name: 'Detach device' });
    expect(detach.getAttribute('aria-disabled')).toBe('true');
    expect(detach.getAttribute('aria-describedby') && document.getElementById(detach.getAttribute('aria-describedby')!)?.textContent).toBe(IN_USE);
    await fireEvent.click(detach);
    expect(onaction).not.toHaveBeenCalled();
  });

  it('is empty while an operation is in flight, and says so', async () => {
    render(DeviceActionsMenu, { status: 'DETACHING', actions: [], name: '0000:41:00.0', onaction: () => {} });
    const trigger = button() as HTMLButtonElement;
    expect(trigger.disabled).toBe(true);
    expect(trigger.title).toBe('An operation is in flight for this device');
  });

  it('opens from the keyboard, moves with arrow keys and closes with Escape, returning focus', async () => {
    render(DeviceActionsMenu, { ...DETACHED, name: '0000:41:00.0', onaction: () => {} });
    const trigger = button();
    trigger.focus();
    await fireEvent.keyDown(trigger, { key: 'ArrowDown' });
    const [attach, assign] = screen.getAllByRole('menuitem');
    expect(document.activeElement).toBe(attach);
    await fireEvent.keyDown(screen.getByRole('menu'), { key: 'ArrowDown' });
    expect(document.activeElement).toBe(assign);
    await fireEvent.keyDown(screen.getByRole('menu'), { key: 'ArrowDown' });
    expect(document.activeElement).toBe(attach);
    await fireEvent.keyDown(screen.getByRole('menu'), { key: 'End' });
    expect(document.activeElement).toBe(assign);
    await fireEvent.keyDown(screen.getByRole('menu'), { key: 'Escape' });
    expect(screen.queryByRole('menu')).toBeNull();
    expect(document.activeElement).toBe(trigger);
    expect(trigger.getAttribute('aria-expanded')).toBe('false');
  });

  it('reports the chosen action and closes', async () => {
    const onaction = vi.fn();
    render(DeviceActionsMenu, { ...DETACHED, name: '0000:41:00.0', onaction });
    await fireEvent.click(button());
    await fireEvent.click(screen.getByRole('menuitem', { name: 'Assign device' }));
    expect(onaction).toHaveBeenCalledWith('ASSIGN');
    expect(screen.queryByRole('menu')).toBeNull();
  });

  it('opens on ArrowUp with the last item focused', async () => {
    render(DeviceActionsMenu, { ...DETACHED, name: '0000:41:00.0', onaction: () => {} });
    await fireEvent.keyDown(button(), { key: 'ArrowUp' });
    expect(document.activeElement?.textContent?.trim()).toBe('Assign device');
  });
});

describe('device actions menu for a viewer', () => {
  it('offers nothing, whatever the status, and says why', async () => {
    render(DeviceActionsMenu, { ...DETACHED, name: '0000:41:00.0', onaction: () => {}, readOnly: true });
    const trigger = button() as HTMLButtonElement;
    expect(trigger.disabled).toBe(true);
    expect(trigger.title).toBe('Your role may view devices but not change them');
  });
});
