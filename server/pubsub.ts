// The one place topics and their payloads are declared. Payloads carry IDs and the scopes a
// subscriber filters by, not rows: each server process loads the rows a batch names once
// (server/live/change-feed.ts), so a late event never shows stale data.

export interface DeviceChange {
  id: string;
  hostId: string;
  /** The VM the device belonged to before and after the change, so a VM's view sees releases too. */
  vmIds: string[];
}
export interface HostChange {
  id: string;
}
export interface VmChange {
  id: string;
  hostId: string;
}
export interface OperationChange {
  id: string;
  hostId: string;
  vmId: string | null;
  status: string;
}
export interface PlanChange {
  id: string;
}
export interface CredentialRevoked {
  kind: 'session' | 'token' | 'host';
  id: string;
}
export interface AuditEntry {
  id: number;
  actor: string;
}

export type Topics = {
  'plan:changed': PlanChange;
  'credential:revoked': CredentialRevoked;
  'audit:logged': AuditEntry;
  'device:changed': DeviceChange;
  'host:changed': HostChange;
  'vm:changed': VmChange;
  'operation:changed': OperationChange;
};

export type Topic = keyof Topics;
export type ChangeMessage = { [T in Topic]: { topic: T; payload: Topics[T] } }[Topic];
