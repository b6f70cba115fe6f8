// The rules every side of the API agrees on. The server validates with them, the database CHECKs
// and enums are built from them (server/db/schema), and the console, the agent and the CLI check
// input with the same words before sending it. Pure TypeScript: the console bundle imports it.

export const HOST_STATUSES = ['ONLINE', 'OFFLINE'] as const;
export const DEVICE_KINDS = ['GPU', 'USB', 'NVME', 'PCI'] as const;
export const DEVICE_STATUSES = ['ATTACHED', 'DETACHED', 'ASSIGNED', 'DETACHING', 'ATTACHING', 'ASSIGNING', 'RELEASING', 'MISSING'] as const;
export const VM_STATUSES = ['PROVISIONING', 'RUNNING', 'STOPPED', 'STARTING', 'STOPPING', 'DELETING', 'DELETED', 'FAILED'] as const;
export const PROVISION_TYPES = ['KVM', 'LXC', 'BARE_METAL'] as const;
export const OPERATION_TYPES = ['DETACH', 'ATTACH', 'ASSIGN', 'RELEASE', 'PROVISION', 'TEARDOWN', 'START_VM', 'STOP_VM'] as const;
export const OPERATION_STATUSES = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;
/** The driver a passthrough device is bound to while it is in the pool (detached from the host). */
export const VFIO_DRIVER = 'vfio-pci';

/** Ordered: each role can do everything the ones before it can. */
export const USER_ROLES = ['VIEWER', 'OPERATOR', 'ADMIN'] as const;

export type HostStatus = (typeof HOST_STATUSES)[number];
export type DeviceKind = (typeof DEVICE_KINDS)[number];
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];
export type VmStatus = (typeof VM_STATUSES)[number];
export type ProvisionType = (typeof PROVISION_TYPES)[number];
export type OperationType = (typeof OPERATION_TYPES)[number];
export type OperationStatus = (typeof OPERATION_STATUSES)[number];
export type UserRole = (typeof USER_ROLES)[number];

/**
 * The statuses in which a device row names its VM, and only these (the devices_vm_matches_status
 * CHECK). Which status follows which is the state machine's business (server/domain/device-state.ts).
 */
export const VM_HOLDING_DEVICE_STATUSES = ['ASSIGNING', 'ASSIGNED', 'RELEASING'] as const satisfies readonly DeviceStatus[];

/** A regular expression's source that the database (`~`) and JavaScript read alike. */
export type PatternSource = string;

/** An object's own keys, typed as its keys. */
const keysOf = <T extends object>(record: T) => Object.keys(record).filter((key): key is Extract<keyof T, string> => key in record);

const compiled = new Map<PatternSource, RegExp>();
/** Whether `value` matches `pattern`; each pattern is compiled once (inventory reports check thousands of IDs). */
export function matches(pattern: PatternSource, value: string): boolean {
  let regExp = compiled.get(pattern);
  if (!regExp) {
    regExp = new RegExp(pattern);
    compiled.set(pattern, regExp);
  }
  return regExp.test(value);
}

// Letters, digits, dots, dashes and underscores, starting with a letter or digit: safe in a
// libvirt domain, a file name, a shell argument and a URL.
const namePattern = (maxLength: number): PatternSource => `^[A-Za-z0-9][A-Za-z0-9._-]{0,${maxLength - 1}}$`;

/** One DNS label, since a VM's name is its guest's hostname. */
export const VM_NAME_MAX_LENGTH = 63;
export const VM_NAME_PATTERN = namePattern(VM_NAME_MAX_LENGTH);
/** virsh reads an all-digit domain argument as a domain ID, so a VM name needs something else too. */
export const ALL_DIGITS_PATTERN: PatternSource = '^[0-9]+$';

export const HOST_NAME_MAX_LENGTH = 64;
/** Hosts and clusters. */
export const HOST_NAME_PATTERN = namePattern(HOST_NAME_MAX_LENGTH);

export const USERNAME_MAX_LENGTH = 32;
export const USERNAME_PATTERN: PatternSource = `^[a-z0-9][a-z0-9._-]{0,${USERNAME_MAX_LENGTH - 1}}$`;

/** Plan and API token names: free text, trimmed. */
export const LABEL_MAX_LENGTH = 64;

const quoted = (name: string) => `"${name.slice(0, 70)}"`;

/** The name rules in words, as the errors and the API's documentation say them. */
export const VM_NAME_RULE = `1 to ${VM_NAME_MAX_LENGTH} letters, digits, dots, dashes or underscores, starting with a letter or digit`;
export const HOST_NAME_RULE = `1 to ${HOST_NAME_MAX_LENGTH} letters, digits, dots, dashes or underscores, starting with a letter or digit`;
export const USERNAME_RULE = `1 to ${USERNAME_MAX_LENGTH} lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit`;

/** Why `name` cannot name a VM, or null when it can. */
export function vmNameProblem(name: string): string | null {
  if (!matches(VM_NAME_PATTERN, name)) {
    return `VM name ${quoted(name)} is not valid: use ${VM_NAME_RULE}`;
  }
  if (matches(ALL_DIGITS_PATTERN, name)) return `VM name ${quoted(name)} needs at least one letter or symbol; libvirt reads digits alone as a domain ID`;
  return null;
}

/** Why `name` cannot name a host or a cluster (`what`), or null when it can. */
export function hostNameProblem(name: string, what: 'Host' | 'Cluster'): string | null {
  if (matches(HOST_NAME_PATTERN, name)) return null;
  return `${what} name ${quoted(name)} is not valid: use ${HOST_NAME_RULE}`;
}

export function usernameProblem(username: string): string | null {
  if (matches(USERNAME_PATTERN, username)) return null;
  return `A username is ${USERNAME_RULE}`;
}

/** Lowercase hex of a fixed width: vendor and product IDs (4), a PCI class code (6), a revision (2). */
export const hexPattern = (digits: number): PatternSource => `^[0-9a-f]{${digits}}$`;
/** A PCI or USB vendor or product ID, as sysfs and lspci print it. */
export const HARDWARE_ID_PATTERN = hexPattern(4);
export const isHardwareId = (id: string) => matches(HARDWARE_ID_PATTERN, id);

/** The PCI configuration space a host reports of a device, and the hex digits of each (devices_pci_identity_hex). */
export const PCI_IDENTITY_DIGITS = { classCode: 6, subsystemVendorId: 4, subsystemProductId: 4, revision: 2 } as const;
export const PCI_IDENTITY_FIELDS = keysOf(PCI_IDENTITY_DIGITS);

/** A whole number between min and max inclusive, in unit. */
export interface Range {
  min: number;
  max: number;
  unit: string;
}

/** What a service plan may ask for (the service_plans_*_range CHECKs). */
export const PLAN_LIMITS = {
  cores: { min: 1, max: 1024, unit: 'cores' },
  memoryMb: { min: 64, max: 16 * 1024 * 1024, unit: 'MiB' },
  diskGb: { min: 0, max: 1024 * 1024, unit: 'GiB' },
  gpuCount: { min: 0, max: 64, unit: 'GPUs' },
} as const satisfies Record<string, Range>;

export type PlanLimitField = keyof typeof PLAN_LIMITS;
export const PLAN_LIMIT_FIELDS = keysOf(PLAN_LIMITS);

/** "1 to 1024 cores". */
export const describeRange = ({ min, max, unit }: Range) => `${min} to ${max} ${unit}`;

export function rangeProblem(field: PlanLimitField, value: number): string | null {
  const range: Range = PLAN_LIMITS[field];
  if (Number.isInteger(value) && value >= range.min && value <= range.max) return null;
  return `${field} must be a whole number from ${describeRange(range)}, got ${value}`;
}

export interface PlanRules {
  name: string;
  provisionType: ProvisionType;
  cores: number;
  memoryMb: number;
  diskGb: number;
  gpuCount: number;
  gpuVendorId: string | null;
  gpuProductId: string | null;
}

export type PlanProblems = Partial<Record<keyof PlanRules, string>>;

/** Every rule the plan breaks, by field, in the order the server reports the first; empty when it is valid. */
export function planProblems(plan: PlanRules): PlanProblems {
  const problems: PlanProblems = {};
  const name = plan.name.trim();
  if (name.length < 1 || name.length > LABEL_MAX_LENGTH) problems.name = `Give the plan a name of 1 to ${LABEL_MAX_LENGTH} characters.`;
  for (const field of PLAN_LIMIT_FIELDS) {
    const problem = rangeProblem(field, plan[field]);
    if (problem) problems[field] = problem;
  }
  if (!problems.gpuCount && plan.gpuCount > 0 && plan.provisionType !== 'KVM') {
    problems.gpuCount = 'GPU count is only meaningful for KVM plans; set it to 0 or choose KVM';
  }
  const { gpuVendorId: vendor, gpuProductId: product } = plan;
  if (vendor !== null && !isHardwareId(vendor)) problems.gpuVendorId = 'GPU vendor ID must be 4 hex digits, e.g. 10de';
  if (product !== null && !isHardwareId(product)) problems.gpuProductId = 'GPU product ID must be 4 hex digits, e.g. 2204';
  if (product !== null && vendor === null) problems.gpuVendorId = 'A GPU product ID needs its vendor ID';
  return problems;
}
