import { DEVICE_ACTIONS, startsFrom, transitionRefusal, type DeviceAction, type DeviceStatus } from './device-state.ts';
import { DeviceInUseError, DomainError, HostOfflineError, InvalidTransitionError, IommuGroupInUseError } from './errors.ts';
import type { DeviceRow } from './device-store.ts';

// Which devices an action moves and whether it may start, for the mutations (which throw the
// refusal) and for Device.actions (which shows it): one answer, so the console never offers what
// the server then refuses. The statuses come from the state machine (device-state.ts).

/** A device as this module needs it: its row and, when a VM holds it, that VM's name (for messages). */
export interface Member {
  row: Pick<DeviceRow, 'id' | 'kind' | 'address' | 'status' | 'vmId' | 'inUse' | 'iommuGroup'>;
  vmName: string | null;
}

export interface ActionContext<M extends Member> {
  /** The device the operator chose. */
  device: M;
  /**
   * Every PCI function of its IOMMU group on its host, the device included, or just the device
   * when it has no group (USB, or a host without an IOMMU).
   */
  group: M[];
  host: { id: string; name: string; status: 'ONLINE' | 'OFFLINE' };
  /** ASSIGN: the VM it goes to; omitted when asking what is possible for any VM. */
  vmId?: string;
}

export interface ActionPlan<M extends Member> {
  /** The devices the action moves, in the group's order: the whole group, or what is held or free of it. */
  devices: M[];
  /** Why it may not start now; null when it may. */
  refusal: DomainError | null;
}

export const describe = (member: Member) => `${member.row.kind} ${member.row.address}`;

/** The devices `action` moves with `device`: VFIO hands a whole IOMMU group to the host, to the pool, or to one VM. */
function moving<M extends Member>(action: DeviceAction, { device, group }: ActionContext<M>): M[] {
  switch (action) {
    case 'DETACH':
    case 'ATTACH':
      return group;
    case 'ASSIGN':
      // Functions its VM holds already stay where they are.
      return group.filter((member) => member === device || member.row.vmId === null);
    case 'RELEASE':
      return device.row.vmId === null ? [device] : group.filter((member) => member === device || member.row.vmId === device.row.vmId);
  }
}

/** Whether `action` may start on the chosen device now, and what it would move. */
export function planAction<M extends Member>(action: DeviceAction, context: ActionContext<M>): ActionPlan<M> {
  const { device, group, host } = context;
  const devices = moving(action, context);
  const refuse = (refusal: DomainError) => ({ devices, refusal });
  if (host.status !== 'ONLINE') return refuse(new HostOfflineError(host.id, host.name));

  if (action === 'ASSIGN') {
    const elsewhere = group.find((member) => member !== device && member.row.vmId !== null && member.row.vmId !== context.vmId);
    if (elsewhere) {
      return refuse(
        new IommuGroupInUseError(
          elsewhere.row.id,
          `${describe(device)} shares IOMMU group ${device.row.iommuGroup} with ${elsewhere.row.address}, which VM ${elsewhere.vmName ?? 'another VM'} holds; VFIO passes a whole group to one VM, so release it there first`,
        ),
      );
    }
  }
  for (const member of [device, ...devices.filter((other) => other !== device)]) {
    const refusal = transitionRefusal(action, { ...member.row, vmName: member.vmName });
    if (refusal) return refuse(new InvalidTransitionError(member.row.id, member.row.status, refusal));
  }
  if (action === 'DETACH') {
    const used = devices.find((member) => member.row.inUse !== null);
    if (used?.row.inUse) {
      const mate = used === device ? '' : `, which shares IOMMU group ${device.row.iommuGroup} with ${device.row.address},`;
      return refuse(
        new DeviceInUseError(used.row.id, used.row.inUse, `${describe(used)}${mate} is in use by the host: ${used.row.inUse}; free it on the host first`),
      );
    }
  }
  return { devices, refusal: null };
}

export interface PossibleAction<M extends Member> extends ActionPlan<M> {
  action: DeviceAction;
}

/**
 * The actions the device's status offers in the state machine, each with what it would move and
 * why it may not start now. A device with an operation in flight, or missing, offers none.
 */
export function possibleActions<M extends Member>(context: ActionContext<M>): PossibleAction<M>[] {
  const status: DeviceStatus = context.device.row.status;
  return DEVICE_ACTIONS.filter((action) => startsFrom(action, status)).map((action) => ({ action, ...planAction(action, context) }));
}
