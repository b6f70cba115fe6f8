import { graphql } from './graphql.ts';

// The operator's documents: what the `passthru` CLI (and any script on the same protocol) reads,
// changes and watches. Mutation answers select `__typename` and `... on Error { message }`, so a
// refusal arrives as data with its type name, which the CLI maps to an exit code.

export const HostFields = graphql(`
  fragment HostFields on Host {
    id
    name
    status
    cluster { id name }
    cpuCores
    memoryMb
    iommuEnabled
    lastSeenAt
    vmCount
    pool { kind total free assigned attached busy missing }
  }
`);

export const DeviceFields = graphql(`
  fragment DeviceFields on Device {
    id
    kind
    name
    address
    status
    driver
    iommuGroup
    numaNode
    inUse
    host { id name }
    vm { id name }
  }
`);

export const VmFields = graphql(`
  fragment VmFields on VM {
    id
    name
    status
    cores
    memoryMb
    diskGb
    createdAt
    host { id name }
    plan { id name }
  }
`);

export const OperationFields = graphql(`
  fragment OperationFields on Operation {
    id
    type
    status
    actor
    error
    createdAt
    finishedAt
    durationMs
    queuePosition
    host { id name }
    vm { id name }
    devices(first: 64) { nodes { id address kind status } }
  }
`);

export const PlanFields = graphql(`
  fragment PlanFields on ServicePlan {
    id
    name
    provisionType
    cores
    memoryMb
    diskGb
    gpuCount
    gpuVendorId
    gpuProductId
    vmCount
  }
`);

/** What a device command answers with: the queued operation and the devices it moves. */
export const DeviceOperationFields = graphql(`
  fragment DeviceOperationFields on DeviceOperationSuccess { operation { ...OperationFields } devices { ...DeviceFields } }
`, [OperationFields, DeviceFields]);

/** What a VM command answers with: the VM, its queued operation and the devices it reserves or frees. */
export const VmOperationFields = graphql(`
  fragment VmOperationFields on VmOperationSuccess { vm { ...VmFields } operation { ...OperationFields } devices { ...DeviceFields } }
`, [VmFields, OperationFields, DeviceFields]);

const PageFields = graphql(`
  fragment PageFields on PageInfo { hasNextPage endCursor }
`);

export const Me = graphql(`
  query Me { me { id username role } }
`);

export const SignIn = graphql(`
  mutation SignIn($username: String!, $password: String!) {
    signIn(input: { username: $username, password: $password }) {
      __typename
      ... on SignInSuccess { user { username role } }
      ... on Error { message }
    }
  }
`);

export const CreateApiToken = graphql(`
  mutation CreateApiToken($name: String!, $role: Role!) {
    createApiToken(input: { name: $name, role: $role }) {
      __typename
      ... on CreateApiTokenSuccess { token apiToken { id name role } }
      ... on Error { message }
    }
  }
`);

export const SignOut = graphql(`
  mutation SignOut { signOut { __typename ... on Error { message } } }
`);

export const Clusters = graphql(`
  query Clusters { clusters { id name } }
`);

export const Hosts = graphql(`
  query Hosts($first: Int!, $after: String, $status: HostStatus, $clusterId: ID) {
    hosts(first: $first, after: $after, status: $status, clusterId: $clusterId) {
      nodes { ...HostFields }
      pageInfo { ...PageFields }
    }
  }
`, [HostFields, PageFields]);

export const Devices = graphql(`
  query Devices($first: Int!, $after: String, $filter: DeviceFilter) {
    devices(first: $first, after: $after, filter: $filter) {
      nodes { ...DeviceFields }
      pageInfo { ...PageFields }
    }
  }
`, [DeviceFields, PageFields]);

export const Vms = graphql(`
  query Vms($first: Int!, $after: String, $hostId: ID, $includeDeleted: Boolean) {
    vms(first: $first, after: $after, hostId: $hostId, includeDeleted: $includeDeleted) {
      nodes { ...VmFields }
      pageInfo { ...PageFields }
    }
  }
`, [VmFields, PageFields]);

export const ServicePlans = graphql(`
  query ServicePlans { servicePlans { ...PlanFields } }
`, [PlanFields]);

export const Operations = graphql(`
  query Operations($first: Int!, $after: String, $filter: OperationFilter) {
    operations(first: $first, after: $after, filter: $filter) {
      nodes { ...OperationFields }
      pageInfo { ...PageFields }
    }
  }
`, [OperationFields, PageFields]);

export const OperationById = graphql(`
  query OperationById($id: ID!) { node(id: $id) { __typename ... on Operation { ...OperationFields } } }
`, [OperationFields]);

/** Which type a global ID names, if any: lets a command take a name or an ID. */
export const NodeType = graphql(`
  query NodeType($id: ID!) { node(id: $id) { __typename id } }
`);

export const ChangeCursor = graphql(`
  query ChangeCursor { changeCursor }
`);

export const DetachDevice = graphql(`
  mutation DetachDevice($deviceId: ID!) {
    detachDevice(input: { deviceId: $deviceId }) {
      __typename
      ... on DeviceOperationSuccess { ...DeviceOperationFields }
      ... on Error { message }
    }
  }
`, [DeviceOperationFields]);

export const AttachDevice = graphql(`
  mutation AttachDevice($deviceId: ID!) {
    attachDevice(input: { deviceId: $deviceId }) {
      __typename
      ... on DeviceOperationSuccess { ...DeviceOperationFields }
      ... on Error { message }
    }
  }
`, [DeviceOperationFields]);

export const AssignDevice = graphql(`
  mutation AssignDevice($deviceId: ID!, $vmId: ID!, $withGroup: Boolean!) {
    assignDevice(input: { deviceId: $deviceId, vmId: $vmId, withGroup: $withGroup }) {
      __typename
      ... on DeviceOperationSuccess { ...DeviceOperationFields }
      ... on Error { message }
    }
  }
`, [DeviceOperationFields]);

export const ReleaseDevice = graphql(`
  mutation ReleaseDevice($deviceId: ID!) {
    releaseDevice(input: { deviceId: $deviceId }) {
      __typename
      ... on DeviceOperationSuccess { ...DeviceOperationFields }
      ... on Error { message }
    }
  }
`, [DeviceOperationFields]);

export const ProvisionVm = graphql(`
  mutation ProvisionVm($input: ProvisionVmInput!) {
    provisionVm(input: $input) {
      __typename
      ... on VmOperationSuccess { ...VmOperationFields }
      ... on Error { message }
    }
  }
`, [VmOperationFields]);

export const DeleteVm = graphql(`
  mutation DeleteVm($vmId: ID!) {
    deleteVm(input: { vmId: $vmId }) {
      __typename
      ... on VmOperationSuccess { ...VmOperationFields }
      ... on Error { message }
    }
  }
`, [VmOperationFields]);

export const DeviceChanged = graphql(`
  subscription DeviceChanged($hostId: ID, $after: String) {
    deviceChanged(hostId: $hostId, after: $after) { cursor device { ...DeviceFields } }
  }
`, [DeviceFields]);

export const OperationChanged = graphql(`
  subscription OperationChanged($hostId: ID, $after: String) {
    operationChanged(hostId: $hostId, after: $after) { cursor operation { ...OperationFields } }
  }
`, [OperationFields]);

export const VmChanged = graphql(`
  subscription VmChanged($hostId: ID, $after: String) {
    vmChanged(hostId: $hostId, after: $after) { cursor vm { ...VmFields } }
  }
`, [VmFields]);

export const HostChanged = graphql(`
  subscription HostChanged($hostId: ID, $after: String) {
    hostChanged(hostId: $hostId, after: $after) { cursor host { ...HostFields } }
  }
`, [HostFields]);

export const RevokeApiToken = graphql(`
  mutation RevokeApiToken($tokenId: ID!) {
    revokeApiToken(input: { tokenId: $tokenId }) { __typename ... on Error { message } }
  }
`);
