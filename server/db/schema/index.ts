export * from './enums.ts';
export * from './hosts.ts';
export * from './plans.ts';
export * from './vms.ts';
export * from './devices.ts';
export * from './operations.ts';
export * from './users.ts';
export * from './changes.ts';
