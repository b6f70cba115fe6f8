import { encodeGlobalID } from '@pothos/plugin-relay';
import {
  DomainError,
  HostOfflineError,
  InvalidTransitionError,
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

builder.objectType(HostOfflineError, {
  name: 'HostOfflineError',
  description: "The host's agent is not connected, so nothing on it can change.",
  interfaces: [ErrorInterface],
  fields: (t) => ({ hostId: t.id({ description: 'Global ID of the offline host.', resolve: (e) => encodeGlobalID('Host', e.hostId) }) }),
});

builder.objectType(WrongHostError, {
  name: 'WrongHostError',
  description: 'The device and the VM are on different hosts.',
  interfaces: [ErrorInterface],
});

export const FreeGpusRef = builder.objectRef<NoCapacityError['free'][number]>('HostFreeGpus').implement({
  description: 'How many GPUs matching a plan are free on one host.',
  fields: (t) => ({
    hostId: t.id({ description: 'Global ID of the host.', resolve: (f) => encodeGlobalID('Host', f.hostId) }),
    hostName: t.exposeString('hostName', { description: 'Name of the host.' }),
    freeGpus: t.exposeInt('freeGpus', { description: 'Free GPUs matching the plan.' }),
  }),
});

builder.objectType(NoCapacityError, {
  name: 'NoCapacityError',
  description: "No host in the scope has enough free GPUs matching the plan.",
  interfaces: [ErrorInterface],
  fields: (t) => ({
    requiredGpus: t.exposeInt('requiredGpus', { description: 'GPUs the plan needs on one host.' }),
    free: t.field({ type: [FreeGpusRef], description: 'What is free on each online host of the scope.', resolve: (e) => e.free }),
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
