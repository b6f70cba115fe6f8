// Expected failures. Each class is exposed as a GraphQL error type (server/graphql/errors.ts),
// so clients receive them as typed union members; anything else thrown is a bug and is masked.
// Every domain module imports this one, so it imports only the schema and plain types.

import type { devices } from '../db/schema/index.ts';
import type { HostFree, PlanNeeds } from './capacity.ts';

export class DomainError extends Error {
  override name = 'DomainError';
}

/** Whether `value` descends from DomainError, by class name: module copies (test runners) defeat instanceof. */
export function isDomainError(value: unknown): value is DomainError {
  if (!value || typeof value !== 'object') return false;
  for (let proto = Object.getPrototypeOf(value); proto; proto = Object.getPrototypeOf(proto)) {
    if (proto.constructor?.name === DomainError.name) return true;
  }
  return false;
}

export class NotFoundError extends DomainError {
  constructor(
    readonly typename: string,
    readonly id: string,
  ) {
    super(`No ${typename} with ID "${id}"`);
  }
}

export class ValidationError extends DomainError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export class InvalidTransitionError extends DomainError {
  constructor(
    readonly deviceId: string,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

export class HostOfflineError extends DomainError {
  constructor(
    readonly hostId: string,
    hostName: string,
  ) {
    super(`Host ${hostName} is offline; its agent must be connected before devices or VMs on it can change`);
  }
}

/** The host itself uses the device (a mounted filesystem, swap, the default-route NIC): it stays attached. */
export class DeviceInUseError extends DomainError {
  constructor(
    readonly deviceId: string,
    readonly inUse: string,
    message: string,
  ) {
    super(message);
  }
}

export class WrongHostError extends DomainError {
  constructor(message: string) {
    super(message);
  }
}

export class IommuGroupInUseError extends DomainError {
  constructor(
    readonly deviceId: string,
    message: string,
  ) {
    super(message);
  }
}

/** Assigning the device would leave the rest of its IOMMU group behind, and the caller did not ask for them (withGroup). */
export class IommuGroupMembersError extends DomainError {
  constructor(
    readonly deviceId: string,
    /** The other functions of the group that would go along. */
    readonly members: (typeof devices.$inferSelect)[],
    message: string,
  ) {
    super(message);
  }
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** One host's shortfall in words: "gpu-a is short of memory (16384 MiB free, 24576 MiB needed)". */
function describeShortfall(plan: PlanNeeds, host: HostFree): string {
  if (host.freeCores === null || host.freeMemoryMb === null) return `${host.hostName} has not reported its cores and memory`;
  if (host.short.length === 0) return `${host.hostName} has room now, but other provisions took it meanwhile; try again`;
  const parts = host.short.map((resource) => {
    switch (resource) {
      case 'GPUS':
        return `GPUs (${host.freeGpus} matching free, ${plan.gpuCount} needed)`;
      case 'CORES':
        return `cores (${host.freeCores} free, ${plan.cores} needed)`;
      case 'MEMORY':
        return `memory (${host.freeMemoryMb} MiB free, ${plan.memoryMb} MiB needed)`;
    }
  });
  return `${host.hostName} is short of ${parts.join(' and ')}`;
}

/** How many hosts a refusal's message names; the error's `free` lists them all. */
const HOSTS_NAMED = 3;

export class NoCapacityError extends DomainError {
  readonly requiredGpus: number;
  readonly requiredCores: number;
  readonly requiredMemoryMb: number;

  constructor(
    plan: PlanNeeds,
    readonly free: HostFree[],
  ) {
    super(NoCapacityError.describe(plan, free));
    this.requiredGpus = plan.gpuCount;
    this.requiredCores = plan.cores;
    this.requiredMemoryMb = plan.memoryMb;
  }

  private static describe(plan: PlanNeeds, free: HostFree[]): string {
    const gpus = plural(plan.gpuCount, 'free GPU');
    if (free.length === 0) return `No online host can take this plan (it needs ${gpus}, ${plural(plan.cores, 'core')} and ${plan.memoryMb} MiB of memory)`;
    if (free.every((host) => host.short.length === 1 && host.short[0] === 'GPUS')) {
      const best = free.reduce((max, host) => Math.max(max, host.freeGpus), 0);
      return `No host has ${plural(plan.gpuCount, 'matching free GPU')}; the most free on one host is ${best}`;
    }
    // Hosts closest to fitting first.
    const shortest = [...free].sort((a, b) => a.short.length - b.short.length || a.hostName.localeCompare(b.hostName));
    const named = shortest.slice(0, HOSTS_NAMED).map((host) => describeShortfall(plan, host));
    const more = free.length > HOSTS_NAMED ? `; and ${plural(free.length - HOSTS_NAMED, 'more host')}` : '';
    return `No host can take this plan: ${named.join('; ')}${more}`;
  }
}

export class HostBusyError extends DomainError {
  constructor(
    readonly hostId: string,
    readonly queued: number,
    readonly limit: number,
  ) {
    super(`The host has ${queued} operations queued or running, its limit of ${limit}; try again when some have finished`);
  }
}

export class PlanInUseError extends DomainError {
  constructor(readonly vmCount: number) {
    super(`The plan is used by ${vmCount} VM${vmCount === 1 ? '' : 's'}; delete or move them first`);
  }
}

export class VmBusyError extends DomainError {
  constructor(
    readonly vmId: string,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

export class OperationFinishedError extends DomainError {
  constructor(
    readonly operationId: string,
    readonly status: string,
  ) {
    super(`Operation ${operationId} already finished as ${status}`);
  }
}

/** The caller is not signed in, or its role or credential does not allow the call. */
export class NotAuthorizedError extends DomainError {
  constructor(message: string) {
    super(message);
  }
}

export class TooManyAttemptsError extends DomainError {
  constructor(readonly retryAfterSeconds: number) {
    super(`Too many sign-in attempts; try again in ${retryAfterSeconds} s`);
  }
}


/** A subscription's `after:` cursor is older than the retained change log, or from another database. */
export class CursorExpiredError extends DomainError {
  constructor(message: string) {
    super(`${message}: re-read what you show, then subscribe without after`);
  }
}

/** A subscriber left more than its queue's worth of changes undelivered; its subscription ends. */
export class SubscriberBehindError extends DomainError {
  constructor(readonly limit: number) {
    super(`This subscriber fell more than ${limit} changes behind and was ended: re-read, or resubscribe with after: your last cursor`);
  }
}
