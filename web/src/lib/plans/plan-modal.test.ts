import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import PlanModal from './PlanModal.svelte';
import { gpuModelChoices, type PlanForm } from './plan-form.svelte.ts';
import { PLAN_LIMIT_FIELDS, PLAN_LIMITS, rangeProblem, type PlanLimitField } from '../../../../protocol/rules.ts';

const models = [{ vendorId: '10de', productId: '2204', name: 'GA102 [GeForce RTX 3090]', vendorName: 'NVIDIA Corporation', free: 3, total: 4 }];

function gpuCount() {
  return screen.queryByLabelText('GPU count');
}

describe('New Service Plan modal', () => {
  it('shows GPU COUNT only while the provision type is KVM', async () => {
    render(PlanModal, { gpuModels: models, onsubmit: () => {}, onclose: () => {} });
    expect(screen.getByRole('dialog', { name: 'New Service Plan' })).toBeTruthy();
    const type = screen.getByLabelText('Provision type') as HTMLSelectElement;
    expect(type.value).toBe('KVM');
    expect(gpuCount()).not.toBeNull();
    expect(screen.queryByLabelText('GPU model')).not.toBeNull();

    await fireEvent.change(type, { target: { value: 'LXC' } });
    expect(gpuCount()).toBeNull();
    expect(screen.queryByLabelText('GPU model')).toBeNull();

    await fireEvent.change(type, { target: { value: 'BARE_METAL' } });
    expect(gpuCount()).toBeNull();

    await fireEvent.change(type, { target: { value: 'KVM' } });
    expect(gpuCount()).not.toBeNull();
  });

  it('offers the GPU models of the pool', () => {
    render(PlanModal, { gpuModels: models, onsubmit: () => {}, onclose: () => {} });
    const options = [...(screen.getByLabelText('GPU model') as HTMLSelectElement).options].map((o) => o.value);
    expect(options).toEqual(['', '10de:2204', '10de']);
  });

  it('sends the GPU count and model for a KVM plan', async () => {
    const onsubmit = vi.fn<(form: PlanForm) => void>();
    render(PlanModal, { gpuModels: models, onsubmit, onclose: () => {} });
    await fireEvent.input(screen.getByLabelText('Name'), { target: { value: 'gpu-2x' } });
    await fireEvent.input(gpuCount()!, { target: { value: '2' } });
    await fireEvent.change(screen.getByLabelText('GPU model'), { target: { value: '10de:2204' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Create plan' }));
    expect(onsubmit).toHaveBeenCalledOnce();
    expect(onsubmit.mock.calls[0]![0].createInput()).toEqual({
      name: 'gpu-2x',
      provisionType: 'KVM',
      cores: 8,
      memoryMb: 32768,
      diskGb: 100,
      gpuCount: 2,
      gpuVendorId: '10de',
      gpuProductId: '2204',
    });
  });

  it('sends no GPU fields for other provision types', async () => {
    const onsubmit = vi.fn<(form: PlanForm) => void>();
    render(PlanModal, { gpuModels: models, onsubmit, onclose: () => {} });
    await fireEvent.input(screen.getByLabelText('Name'), { target: { value: 'containers' } });
    await fireEvent.input(gpuCount()!, { target: { value: '2' } });
    await fireEvent.change(screen.getByLabelText('Provision type'), { target: { value: 'LXC' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Create plan' }));
    const input = onsubmit.mock.calls[0]![0].createInput();
    expect(input.provisionType).toBe('LXC');
    expect(input).not.toHaveProperty('gpuCount');
  });

  it('opens an LXC plan for editing without the GPU fields', () => {
    const plan = { name: 'lxc', provisionType: 'LXC' as const, cores: 2, memoryMb: 2048, diskGb: 10, gpuCount: 0, gpuVendorId: null, gpuProductId: null };
    render(PlanModal, { plan, gpuModels: models, onsubmit: () => {}, onclose: () => {} });
    expect(screen.getByRole('dialog', { name: 'Edit Service Plan' })).toBeTruthy();
    expect(gpuCount()).toBeNull();
  });

  it('shows the server error beside the button and closes on Escape', async () => {
    const onclose = vi.fn();
    render(PlanModal, { error: 'A plan named gpu-2x already exists', onsubmit: () => {}, onclose });
    expect(screen.getByRole('alert').textContent).toContain('A plan named gpu-2x already exists');
    await fireEvent.keyDown(screen.getByRole('dialog'), { key: 'Escape' });
    expect(onclose).toHaveBeenCalled();
  });

  it("shows the server's warnings about a saved plan, such as a GPU model no host has reported", () => {
    const plan = { name: 'h100', provisionType: 'KVM' as const, cores: 8, memoryMb: 32768, diskGb: 100, gpuCount: 1, gpuVendorId: '10de', gpuProductId: '2330' };
    const warnings = [{ code: 'GPU_MODEL_NOT_REPORTED', message: 'No host has reported a GPU 10de:2330; VMs of this plan will not fit until one does.' }];
    render(PlanModal, { plan, warnings, gpuModels: models, onsubmit: () => {}, onclose: () => {} });
    expect(screen.getByRole('status').textContent).toContain('No host has reported a GPU 10de:2330');
  });

  it('shows no warning for a plan without any', () => {
    render(PlanModal, { gpuModels: models, onsubmit: () => {}, onclose: () => {} });
    expect(screen.queryByRole('status')).toBeNull();
  });

  it('refuses an empty name without calling the server', async () => {
    const onsubmit = vi.fn();
    render(PlanModal, { onsubmit, onclose: () => {} });
    await fireEvent.click(screen.getByRole('button', { name: 'Create plan' }));
    expect(onsubmit).not.toHaveBeenCalled();
    expect(screen.getByText('Give the plan a name of 1 to 64 characters.')).toBeTruthy();
  });

  it('refuses a disk over the plan limit with the words the server uses, without calling it', async () => {
    const onsubmit = vi.fn();
    render(PlanModal, { onsubmit, onclose: () => {} });
    const tooBig = PLAN_LIMITS.diskGb.max + 1;
    await fireEvent.input(screen.getByLabelText('Name'), { target: { value: 'huge-disk' } });
    await fireEvent.input(screen.getByLabelText('Disk (GiB)'), { target: { value: String(tooBig) } });
    await fireEvent.click(screen.getByRole('button', { name: 'Create plan' }));
    expect(onsubmit).not.toHaveBeenCalled();
    expect(screen.getByText(rangeProblem('diskGb', tooBig)!)).toBeTruthy();
    expect(screen.getByText(rangeProblem('diskGb', tooBig)!).textContent).toBe('diskGb must be a whole number from 0 to 1048576 GiB, got 1048577');
  });

  it('holds every plan limit at both bounds, as the server does', async () => {
    const onsubmit = vi.fn();
    render(PlanModal, { onsubmit, onclose: () => {} });
    await fireEvent.input(screen.getByLabelText('Name'), { target: { value: 'bounds' } });
    const label = { cores: 'Cores', memoryMb: 'Memory (MiB)', diskGb: 'Disk (GiB)', gpuCount: 'GPU count' } satisfies Record<PlanLimitField, string>;
    for (const field of PLAN_LIMIT_FIELDS) {
      const input = screen.getByLabelText(label[field]);
      const { min, max } = PLAN_LIMITS[field];
      for (const value of [min - 1, max + 1]) {
        await fireEvent.input(input, { target: { value: String(value) } });
        await fireEvent.click(screen.getByRole('button', { name: 'Create plan' }));
        expect(screen.getByText(rangeProblem(field, value)!)).toBeTruthy();
      }
      await fireEvent.input(input, { target: { value: String(max) } });
    }
    await fireEvent.click(screen.getByRole('button', { name: 'Create plan' }));
    expect(onsubmit).toHaveBeenCalledOnce();
  });
});

describe('GPU model choices', () => {
  it('offers each model, then any model of each vendor by name, then a plan model the pool no longer has', () => {
    const choices = gpuModelChoices([...models, { vendorId: '1002', productId: '740f', name: 'Aldebaran/MI210', vendorName: null, free: 0, total: 1 }], '8086:0b60');
    expect(choices.map((c) => c.label)).toEqual([
      'Any GPU',
      'GA102 [GeForce RTX 3090] (10de:2204) — 3 free of 4',
      'Aldebaran/MI210 (1002:740f) — 0 free of 1',
      'Any NVIDIA Corporation GPU (10de)',
      'Any GPU of vendor 1002',
      '8086:0b60 (none in the pool now)',
    ]);
  });
});
