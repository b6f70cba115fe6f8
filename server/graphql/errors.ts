import { encodeGlobalID } from '@pothos/plugin-relay';
import type { CapacityResource, HostFree } from '../domain/capacity.ts';
import {
  DomainError,
  HostBusyError,
  HostOfflineError,
  InvalidTransitionError,
  IommuGroupInUseError,
  NoCapacityError,
  NotFoundError,
  OperationFinishedError,
  PlanInUseError,
  NotAuthorizedError,
  TooManyAttemptsError,
  ValidationError,
  VmBusyError,
  WrongHostError,
} from '../domain/errors.ts';
import { builder } from './builder.ts';
import { PAGE_SIZE } from './query-cost.ts';

export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  description: 'Every expected failure of a mutation implements this interface.',
  fields: (t) => ({
    message: t.exposeString('message', { description: 'What went wrong and what to do about it, for people.' }),
  }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'An ID names nothing of the expected type.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    id: t.exposeString('id', { description: 'The ID that was not found.' }),
    typename: t.exposeString('typename', { description: 'The type the ID was expected to name.' }),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'An input value is malformed or out of range.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ field: t.exposeString('field', { description: 'The input field at fault.' }) }),
});

builder.objectType(InvalidTransitionError, {
  name: 'InvalidTransitionError',
  description: "The device's current status does not allow this action.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    deviceId: t.id({ description: 'Global ID of the device that refused.', resolve: (e) => encodeGlobalID('Device', e.deviceId) }),
    status: t.exposeString('status', { description: 'The status the device is in.' }),
  }),
});

builder.objectType(HostBusyError, {
  name: 'HostBusyError',
  description: 'The host already has as many operations queued or running as it may (PASSTHRU_MAX_QUEUED_OPERATIONS_PER_HOST); nothing was queued.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    hostId: t.id({ description: 'Global ID of the busy host.', resolve: (e) => encodeGlobalID('Host', e.hostId) }),
    queued: t.exposeInt('queued', { description: 'Operations queued or running on it now.' }),
    limit: t.exposeInt('limit', { description: 'The most it may have.' }),
  }),
});

builder.objectType(HostOfflineError, {
  name: 'HostOfflineError',
  description: "The host's agent is not connected, so nothing on it can change.",
  interfaces: [ErrorInterface],
  fields: (t) => ({ hostId: t.id({ description: 'Global ID of the offline host.', resolve: (e) => encodeGlobalID('Host', e.hostId) }) }),
});

builder.objectType(IommuGroupInUseError, {
  name: 'IommuGroupInUseError',
  description: "Another function of the device's IOMMU group is held by another VM; VFIO passes a whole group to one VM.",
  interfaces: [ErrorInterface],
  fields: (t) => ({ deviceId: t.id({ description: 'Global ID of the function another VM holds.', resolve: (e) => encodeGlobalID('Device', e.deviceId) }) }),
});

builder.objectType(WrongHostError, {
  name: 'WrongHostError',
  description: 'The device and the VM are on different hosts.',
  interfaces: [ErrorInterface],
});

export const CapacityResourceEnum = builder.enumType('CapacityResource', {
  description: 'What a provision can find a host short of.',
  values: {
    GPUS: { description: "Free GPUs matching the plan's model." },
    CORES: { description: "Cores: the host's CPUs times PASSTHRU_CPU_ALLOCATION_RATIO, less its live VMs' (or not reported by its agent)." },
    MEMORY: { description: "Memory: what its agent reports, less its live VMs' (never overcommitted: passthrough pins guest memory; or not reported)." },
  } satisfies Record<CapacityResource, unknown>,
});

export const FreeGpusRef = builder.objectRef<HostFree>('HostFreeGpus').implement({
  description: 'What one host has free for a plan, and what it is short of: matching GPUs, cores, memory.',
  fields: (t) => ({
    hostId: t.id({ description: 'Global ID of the host.', resolve: (f) => encodeGlobalID('Host', f.hostId) }),
    hostName: t.exposeString('hostName', { description: 'Name of the host.' }),
    freeGpus: t.exposeInt('freeGpus', { description: 'Free GPUs matching the plan.' }),
    freeCores: t.exposeInt('freeCores', {
      nullable: true,
      description: "Cores left: the host's CPUs times PASSTHRU_CPU_ALLOCATION_RATIO, less its live VMs'. Null until its agent reports them (it takes no VM until then).",
    }),
    freeMemoryMb: t.exposeInt('freeMemoryMb', {
      nullable: true,
      description: "Memory left in MiB: what its agent reports, less its live VMs' (never overcommitted). Null until its agent reports it (it takes no VM until then).",
    }),
    short: t.field({
      type: [CapacityResourceEnum],
      description: 'What the host has too little of for the plan; empty when it fits.',
      resolve: (f) => f.short,
    }),
  }),
});

/**
 * Free GPUs per host grow with the fleet: the hosts with the most first (then by name), at most
 * `first` of them.
 */
export function mostFreeFirst(free: readonly HostFree[], first: number | null | undefined): HostFree[] {
  const size = Math.min(Math.max(first ?? PAGE_SIZE.default, 0), PAGE_SIZE.max);
  return [...free].sort((a, b) => b.freeGpus - a.freeGpus || a.hostName.localeCompare(b.hostName)).slice(0, size);
}

/** Describes the `first` argument of such a list. */
export const HOSTS_SHOWN = `At most this many hosts, most free first (default ${PAGE_SIZE.default}, at most ${PAGE_SIZE.max}).`;

builder.objectType(NoCapacityError, {
  name: 'NoCapacityError',
  description: "No online host in the scope has the plan's matching free GPUs, cores and memory; `free` says which is short where.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    requiredGpus: t.exposeInt('requiredGpus', { description: 'GPUs the plan needs on one host.' }),
    requiredCores: t.exposeInt('requiredCores', { description: 'Cores the plan needs on one host.' }),
    requiredMemoryMb: t.exposeInt('requiredMemoryMb', { description: 'Memory (MiB) the plan needs on one host.' }),
    free: t.field({
      type: [FreeGpusRef],
      description: 'What is free on the online hosts of the scope and what each is short of, most free GPUs first.',
      args: { first: t.arg.int({ required: false, description: HOSTS_SHOWN }) },
      resolve: (e, args) => mostFreeFirst(e.free, args.first),
    }),
  }),
});

builder.objectType(PlanInUseError, {
  name: 'PlanInUseError',
  description: 'The plan cannot be deleted while VMs use it.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ vmCount: t.exposeInt('vmCount', { description: 'VMs using the plan.' }) }),
});

builder.objectType(VmBusyError, {
  name: 'VmBusyError',
  description: "The VM's status does not allow this action now.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    vmId: t.id({ description: 'Global ID of the VM.', resolve: (e) => encodeGlobalID('VM', e.vmId) }),
    status: t.exposeString('status', { description: 'The status the VM is in.' }),
  }),
});

builder.objectType(OperationFinishedError, {
  name: 'OperationFinishedError',
  description: 'The operation already ended (it may have timed out); re-reporting inventory settles the truth.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ status: t.exposeString('status', { description: 'How it ended.' }) }),
});

builder.objectType(NotAuthorizedError, {
  name: 'NotAuthorizedError',
  description: 'The caller is not signed in, or its role or credential does not allow this call.',
  interfaces: [ErrorInterface],
});

builder.objectType(TooManyAttemptsError, {
  name: 'TooManyAttemptsError',
  description: 'Too many failed sign-ins; wait before trying again.',
  interfaces: [ErrorInterface],
  fields: (t) => ({ retryAfterSeconds: t.exposeInt('retryAfterSeconds', { description: 'Seconds to wait.' }) }),
});
