import { expect } from 'vitest';
import { graphql, type VariablesOf } from '../../../protocol/graphql.ts';
import { fakeHardware } from '../../support/agent.ts';
import { eventually, member } from '../../support/client.ts';
import { Seed } from '../../support/seed.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { stateSnapshot } from '../../support/snapshot.ts';

// What the files split from the rules tests share: one server a file, its seed, the mutations and the helpers.
const DEVICE_SUCCESS = graphql(`fragment DeviceSuccess on DeviceOperationSuccess { operation { id type } devices { id address status } }`);
const VM_SUCCESS = graphql(`fragment VmSuccess on VmOperationSuccess { vm { id status } devices { id } }`);
const NO_CAPACITY = graphql(`fragment NoCapacity on NoCapacityError { requiredGpus free { hostName freeGpus } }`);
const DEVICE_RESULTS = [DEVICE_SUCCESS];
const VM_RESULTS = [VM_SUCCESS, NO_CAPACITY];
// Each mutation's answer: the refusals its result union can hold, and its success.
const MUTATIONS = {
  assignDevice: graphql(`mutation($input: AssignDeviceInput!) { assignDevice(input: $input) {
    __typename ... on Error { message } ... on InvalidTransitionError { status } ... on NotFoundError { typename } ...DeviceSuccess } }`, DEVICE_RESULTS),
  attachDevice: graphql(`mutation($input: AttachDeviceInput!) { attachDevice(input: $input) {
    __typename ... on Error { message } ... on InvalidTransitionError { status } ... on NotFoundError { typename } ...DeviceSuccess } }`, DEVICE_RESULTS),
  detachDevice: graphql(`mutation($input: DetachDeviceInput!) { detachDevice(input: $input) {
    __typename ... on Error { message } ... on InvalidTransitionError { status } ... on NotFoundError { typename } ...DeviceSuccess } }`, DEVICE_RESULTS),
  createCluster: graphql(`mutation($input: CreateClusterInput!) { createCluster(input: $input) { __typename ... on Error { message } ... on ValidationError { field } } }`),
  createServicePlan: graphql(`mutation($input: CreateServicePlanInput!) { createServicePlan(input: $input) {
    __typename ... on Error { message } ... on ValidationError { field } ... on NotFoundError { typename } } }`),
  updateServicePlan: graphql(`mutation($input: UpdateServicePlanInput!) { updateServicePlan(input: $input) {
    __typename ... on Error { message } ... on ValidationError { field } ... on NotFoundError { typename } } }`),
  deleteServicePlan: graphql(`mutation($input: DeleteServicePlanInput!) { deleteServicePlan(input: $input) {
    __typename ... on Error { message } ... on NotFoundError { typename } ... on PlanInUseError { vmCount } } }`),
  provisionVm: graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) {
    __typename ... on Error { message } ... on ValidationError { field } ... on NotFoundError { typename } ...NoCapacity ...VmSuccess } }`, VM_RESULTS),
  deleteVm: graphql(`mutation($input: DeleteVmInput!) { deleteVm(input: $input) {
    __typename ... on Error { message } ... on InvalidTransitionError { status } ... on NotFoundError { typename } ...VmSuccess } }`, [VM_SUCCESS]),
  stopVm: graphql(`mutation($input: StopVmInput!) { stopVm(input: $input) { __typename ... on Error { message } ... on NotFoundError { typename } ...VmSuccess } }`, [VM_SUCCESS]),
};
export const VM_STATUS = graphql(`query($id: ID!) { vm(id: $id) { status } }`);
export const OPERATION = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Operation { status error } } }`);
export const DETACH_OPERATION = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename ... on DeviceOperationSuccess { operation { id } } } }`);

export let server: TestServer;
export let seed: Seed;
let counter = 0;
export const unique = (prefix: string) => `${prefix}-${++counter}`;

type Input<Field extends keyof typeof MUTATIONS> = VariablesOf<(typeof MUTATIONS)[Field]>['input'];
export const mutate = {
  assignDevice: async (input: Input<'assignDevice'>) => (await server.client.data(MUTATIONS.assignDevice, { input })).assignDevice,
  attachDevice: async (input: Input<'attachDevice'>) => (await server.client.data(MUTATIONS.attachDevice, { input })).attachDevice,
  detachDevice: async (input: Input<'detachDevice'>) => (await server.client.data(MUTATIONS.detachDevice, { input })).detachDevice,
  createCluster: async (input: Input<'createCluster'>) => (await server.client.data(MUTATIONS.createCluster, { input })).createCluster,
  createServicePlan: async (input: Input<'createServicePlan'>) => (await server.client.data(MUTATIONS.createServicePlan, { input })).createServicePlan,
  updateServicePlan: async (input: Input<'updateServicePlan'>) => (await server.client.data(MUTATIONS.updateServicePlan, { input })).updateServicePlan,
  deleteServicePlan: async (input: Input<'deleteServicePlan'>) => (await server.client.data(MUTATIONS.deleteServicePlan, { input })).deleteServicePlan,
  provisionVm: async (input: Input<'provisionVm'>) => (await server.client.data(MUTATIONS.provisionVm, { input })).provisionVm,
  deleteVm: async (input: Input<'deleteVm'>) => (await server.client.data(MUTATIONS.deleteVm, { input })).deleteVm,
  stopVm: async (input: Input<'stopVm'>) => (await server.client.data(MUTATIONS.stopVm, { input })).stopVm,
};
/** Asserts `call` is refused with `typename` and leaves the database exactly as it was. */
export async function expectRefused(typename: string, call: () => Promise<{ __typename: string; message?: string }>, message?: RegExp) {
  const before = await stateSnapshot(server.app.database.db);
  const result = await call();
  expect(result.__typename, result.message).toBe(typename);
  if (message) expect(result.message).toMatch(message);
  expect(await stateSnapshot(server.app.database.db)).toEqual(before);
  return result;
}

export async function settled(deviceId: string, status: string) {
  return eventually(async () => (await seed.device(deviceId)).status === status);
}

/** A cluster with one connected host, a VM on it, and a zero-GPU plan. */
export async function hostWithVm(hardware = fakeHardware({ gpus: 2, usb: 2, nvme: 1 })) {
  const cluster = await seed.cluster(unique('cluster'));
  const host = await cluster.host({ name: unique('host'), devices: hardware });
  const { id: planId } = await seed.plan({ name: unique('plan'), gpuCount: 0 });
  const { vm } = member(await mutate.provisionVm({ name: unique('vm'), planId, hostId: host.id }), 'VmOperationSuccess');
  await eventually(async () => (await server.client.data(VM_STATUS, { id: vm.id })).vm!.status === 'RUNNING');
  const devices = await seed.devices(host.id);
  return { clusterId: cluster.id, planId, vmId: vm.id, devices, ...host };
}

/** Starts the file's own server: each test file runs it in beforeAll. */
export async function startServer() {
  server = await startTestServer({ config: { operationTimeoutMs: 60_000, sweepIntervalMs: 100 } });
  seed = new Seed(server.client, server.url);
}
