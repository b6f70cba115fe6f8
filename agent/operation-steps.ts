// What each operation type does on the host, and what it touches while it does: one row per
// type of the schema's OperationType, so a type added to the schema fails `tsc` until the agent
// knows how to carry it out.

import type { AgentOperation, OperationType } from '../protocol/agent.ts';
import type { HostBackend, HostdevRef } from './backend.ts';
import { errorMessage } from './errors.ts';
import { WHOLE_HOST, type Claim } from './work-queue.ts';

/** The server's error kept when a host reports a failure (completeOperation keeps 4000 characters). */
const MAX_ERROR_LENGTH = 4000;

type Vm = NonNullable<AgentOperation['vm']>;

interface Step {
  /**
   * What it touches. Rebinding drivers (detach, attach) takes the whole host, as an inventory
   * snapshot does; the rest work on one VM and the devices it passes through, so operations
   * on different VMs run side by side.
   */
  scope: 'host' | 'vm';
  carryOut(backend: HostBackend, devices: HostdevRef[], vm: () => Vm): Promise<void>;
}

const STEPS: Record<OperationType, Step> = {
  DETACH: { scope: 'host', carryOut: (backend, devices) => backend.detach(devices) },
  ATTACH: { scope: 'host', carryOut: (backend, devices) => backend.attach(devices) },
  ASSIGN: {
    scope: 'vm',
    async carryOut(backend, devices, vm) {
      for (const device of devices) await backend.assignDevice(vm().name, device);
    },
  },
  RELEASE: {
    scope: 'vm',
    async carryOut(backend, devices, vm) {
      for (const device of devices) await backend.releaseDevice(vm().name, device);
    },
  },
  PROVISION: { scope: 'vm', carryOut: (backend, devices, vm) => backend.provisionVm({ ...vm(), devices }) },
  TEARDOWN: { scope: 'vm', carryOut: (backend, _devices, vm) => backend.teardownVm(vm().name) },
  START_VM: { scope: 'vm', carryOut: (backend, _devices, vm) => backend.startVm(vm().name) },
  STOP_VM: { scope: 'vm', carryOut: (backend, _devices, vm) => backend.stopVm(vm().name) },
};

/** A server newer than this agent may send a type the agent's schema does not have. */
function stepOf(operation: AgentOperation): Step | undefined {
  return Object.hasOwn(STEPS, operation.type) ? STEPS[operation.type] : undefined;
}

/** The work-queue claim of an operation: its VM and devices, or the whole host. */
export function claimOf(operation: AgentOperation): Claim {
  if (stepOf(operation)?.scope !== 'vm') return WHOLE_HOST;
  return { resources: [...(operation.vm ? [`vm:${operation.vm.name}`] : []), ...operation.devices.nodes.map((device) => `device:${device.address}`)] };
}

export interface HostOutcome {
  succeeded: boolean;
  /** Why it failed, as the host said it, for operators. */
  error?: string;
}

/** Carries the operation out on the host; a failure is an outcome, not a throw. */
export async function carryOut(backend: HostBackend, operation: AgentOperation): Promise<HostOutcome> {
  const vm = () => {
    if (!operation.vm) throw new Error(`${operation.type} operation ${operation.id} names no VM`);
    return operation.vm;
  };
  try {
    const step = stepOf(operation);
    if (!step) throw new Error(`this agent does not know operation type ${operation.type}; upgrade the agent`);
    await step.carryOut(backend, operation.devices.nodes, vm);
    return { succeeded: true };
  } catch (error) {
    return { succeeded: false, error: (errorMessage(error) || 'the host reported an error without a message').slice(0, MAX_ERROR_LENGTH) };
  }
}
