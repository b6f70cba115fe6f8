import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import DeviceActionsMenu from './DeviceActionsMenu.svelte';
import type { DeviceStatus } from './fragments.ts';

const offered: [DeviceStatus, string[]][] = [
  ['ATTACHED', ['Detach device']],
  ['DETACHED', ['Attach device', 'Assign device']],
  ['ASSIGNED', ['Release']],
  ['DETACHING', []],
  ['ATTACHING', []],
  ['ASSIGNING', []],
  ['RELEASING', []],
  ['MISSING', []],
];

function button() {
  return screen.getByRole('button', { name: 'Actions for 0000:41:00.0' });
}

describe('device actions menu', () => {
  it.each(offered)('%s offers exactly %j', async (status, labels) => {
    render(DeviceActionsMenu, { status, name: '0000:41:00.0', onaction: () => {} });
    const trigger = button();
    expect(trigger.getAttribute('aria-haspopup')).toBe('menu');
    if (labels.length === 0) {
      expect((trigger as HTMLButtonElement).disabled).toBe(true);
      await fireEvent.click(trigger);
      expect(screen.queryByRole('menu')).toBeNull();
      return;
    }
    await fireEvent.click(trigger);
    expect(trigger.getAttribute('aria-expanded')).toBe('true');
    const items = screen.getAllByRole('menuitem').map((item) => item.textContent?.trim());
    expect(items).toEqual(labels);
  });

  it('opens from the keyboard, moves with arrow keys and closes with Escape, returning focus', async () => {
    render(DeviceActionsMenu, { status: 'DETACHED', name: '0000:41:00.0', onaction: () => {} });
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
    render(DeviceActionsMenu, { status: 'DETACHED', name: '0000:41:00.0', onaction });
    await fireEvent.click(button());
    await fireEvent.click(screen.getByRole('menuitem', { name: 'Assign device' }));
    expect(onaction).toHaveBeenCalledWith('assign');
    expect(screen.queryByRole('menu')).toBeNull();
  });

  it('opens on ArrowUp with the last item focused', async () => {
    render(DeviceActionsMenu, { status: 'DETACHED', name: '0000:41:00.0', onaction: () => {} });
    await fireEvent.keyDown(button(), { key: 'ArrowUp' });
    expect(document.activeElement?.textContent?.trim()).toBe('Assign device');
  });
});

describe('device actions menu for a viewer', () => {
  it('offers nothing, whatever the status, and says why', async () => {
    render(DeviceActionsMenu, { status: 'DETACHED', name: '0000:41:00.0', onaction: () => {}, readOnly: true });
    const trigger = button() as HTMLButtonElement;
    expect(trigger.disabled).toBe(true);
    expect(trigger.title).toBe('Your role may view devices but not change them');
  });
});
