// @vitest-environment node
import { describe, expect, it, vi } from 'vitest';
import type { OperationResultSource, OperationResult } from '@urql/core';
import { readIntrospection } from '../../../schema-introspection.ts';
import { graphql } from '../../../../protocol/graphql.ts';
import { fakeApi } from './fake-api.ts';
import { placed } from './cache-lists.ts';
import { OperationRowFields } from '../operations/fragments.ts';
import { DeviceRowFields } from '../devices/fragments.ts';
import { OperationEvents } from '../operations/operation-events.ts';
import { DeviceEvents } from '../devices/device-events.ts';
import { VmEvents } from '../vms/vm-events.ts';

const schema = readIntrospection();

/** The latest data a query stream has shown. */
function watch<D>(source: OperationResultSource<OperationResult<D>>): () => D | undefined {
  let data: D | undefined;
  source.subscribe((result) => {
    if (result.data) data = result.data;
  });
  return () => data;
}

const host = { __typename: 'Host', id: 'h1', name: 'gpu-01' };

/** A device row as a device event carries it. */
function device(id: string, address: string, status: string, vm: string | null) {
  return {
    __typename: 'Device',
    id,
    kind: 'GPU',
    name: 'A100',
    address,
    vendorId: '10de',
    productId: '20b0',
    vendorName: 'NVIDIA Corporation',
    productName: 'A100',
    classCode: '030200',
    subsystemVendorId: '10de',
    subsystemProductId: '1463',
    revision: 'a1',
    serial: null,
    iommuGroup: 1,
    numaNode: 0,
    driver: 'vfio-pci',
    inUse: null,
    status,
    updatedAt: '2030-01-01T10:00:00.000Z',
    host,
    vm: vm ? { __typename: 'VM', id: vm, name: 'vm-a' } : null,
    iommuGroupMembers: [],
    actions: [],
  };
}
const deviceEvent = (d: ReturnType<typeof device>) => ({ deviceChanged: { __typename: 'DeviceChange', cursor: '9', device: d } });

/** A first page of a connection of `typename`. */
const page = (typename: string, nodes: unknown[], hasNextPage = false) => ({ __typename: typename, nodes, pageInfo: { __typename: 'PageInfo', hasNextPage } });

describe('placing an entity in an ordered list', () => {
  const byName = (key: string) => (other: string) => key < other;

  it('inserts in order, and a full first page does not grow past its end', () => {
    expect(placed(['b', 'd'], 'c', true, byName('c'))).toEqual(['b', 'c', 'd']);
    expect(placed(['b', 'd'], 'a', true, byName('a'), 2)).toEqual(['a', 'b']);
    expect(placed(['b', 'd'], 'e', true, byName('e'), 2)).toBeNull();
  });

  it('removes what no longer belongs and leaves an unchanged list alone', () => {
    expect(placed(['b', 'c', 'd'], 'c', false, byName('c'))).toEqual(['b', 'd']);
    expect(placed(['b', 'c', 'd'], 'c', true, byName('c'))).toBeNull();
    expect(placed(['b', 'd'], 'c', false, byName('c'))).toBeNull();
  });
});

describe('operationChanged updates the operation lists in place', () => {
  const Operations = graphql(
    `
      query Ops($first: Int!, $filter: OperationFilter) {
        operations(first: $first, filter: $filter) { nodes { ...OperationRowFields } pageInfo { hasNextPage } }
      }
    `,
    [OperationRowFields],
  );
  const operation = (id: string, createdAt: string, status: string, queuePosition: number | null = status === 'PENDING' ? 1 : null) => ({
    __typename: 'Operation',
    id,
    type: 'DETACH',
    status,
    queuePosition,
    actor: 'user:admin',
    error: null,
    createdAt,
    startedAt: status === 'PENDING' ? null : createdAt,
    finishedAt: null,
    durationMs: null,
    host,
    vm: null,
    devices: page('OperationDevicesConnection', []),
  });
  const connection = (nodes: unknown[]) => ({ operations: { __typename: 'QueryOperationsConnection', nodes, pageInfo: { __typename: 'PageInfo', hasNextPage: true } } });
  const event = (op: ReturnType<typeof operation>) => ({ operationChanged: { __typename: 'OperationChange', cursor: '7', operation: op } });

  it('a new operation goes to the top of the lists it matches, one that finished leaves the in-flight list, and nothing is fetched again', async () => {
    const api = fakeApi(schema, (_name, variables) =>
      variables?.filter
        ? connection([operation('o1', '2030-01-01T10:00:00.000Z', 'RUNNING')])
        : connection([operation('o1', '2030-01-01T10:00:00.000Z', 'RUNNING'), operation('o2', '2030-01-01T09:00:00.000Z', 'SUCCEEDED')]),
    );
    const all = watch(api.client.query(Operations, { first: 2, filter: null }));
    const inFlight = watch(api.client.query(Operations, { first: 10, filter: { status: ['PENDING', 'RUNNING'] } }));
    api.client.subscription(OperationEvents, {}).subscribe(() => {});
    const ids = (data: ReturnType<typeof all>) => data?.operations.nodes.map((o) => o.id);
    await vi.waitFor(() => expect(ids(inFlight())).toEqual(['o1']));

    api.emit('OperationEvents', event(operation('o3', '2030-01-01T11:00:00.000Z', 'PENDING')));
    await vi.waitFor(() => expect(ids(all())).toEqual(['o3', 'o1']));
    expect(ids(inFlight())).toEqual(['o3', 'o1']);

    api.emit('OperationEvents', event(operation('o1', '2030-01-01T10:00:00.000Z', 'SUCCEEDED')));
    await vi.waitFor(() => expect(ids(inFlight())).toEqual(['o3']));
    expect(all()?.operations.nodes.map((o) => [o.id, o.status])).toEqual([
      ['o3', 'PENDING'],
      ['o1', 'SUCCEEDED'],
    ]);
    expect(api.asked).toEqual(['Ops', 'Ops']);
  });

  it("one that leaves its host's queue makes the places of the ones behind it read again", async () => {
    let picked = false;
    const api = fakeApi(schema, () =>
      connection([
        operation('o2', '2030-01-01T10:01:00.000Z', 'PENDING', picked ? 1 : 2),
        operation('o1', '2030-01-01T10:00:00.000Z', picked ? 'RUNNING' : 'PENDING', picked ? null : 1),
      ]),
    );
    const all = watch(api.client.query(Operations, { first: 10, filter: null }));
    api.client.subscription(OperationEvents, {}).subscribe(() => {});
    const places = () => all()?.operations.nodes.map((o) => [o.id, o.queuePosition]);
    await vi.waitFor(() => expect(places()).toEqual([['o2', 2], ['o1', 1]]));

    picked = true;
    api.emit('OperationEvents', event(operation('o1', '2030-01-01T10:00:00.000Z', 'RUNNING')));
    await vi.waitFor(() => expect(places()).toEqual([['o2', 1], ['o1', null]]));
  });
});

describe('deviceChanged updates devices in place and moves them between VMs', () => {
  const HostDevices = graphql(
    `
      query HostDevices($id: ID!) {
        host(id: $id) {
          id
          devices(first: 500) { nodes { ...DeviceRowFields } pageInfo { hasNextPage } }
          vms(first: 100) { nodes { id name devices(first: 16) { nodes { id kind } pageInfo { hasNextPage } } } }
        }
      }
    `,
    [DeviceRowFields],
  );
  const HostPool = graphql(`
    query HostPool($id: ID!) {
      host(id: $id) { id pool { kind free total } }
    }
  `);
  const Pool = graphql(`
    query Pool {
      pool { byKind { kind free total } }
    }
  `);

  it('a released device leaves its VM, an assigned one joins it, a new one joins its host, and only the pool counts are read again', async () => {
    let free = 1;
    let hostFree = 1;
    const api = fakeApi(schema, (name) => {
      if (name === 'Pool') return { pool: { __typename: 'Pool', byKind: [{ __typename: 'KindPool', kind: 'GPU', free: free++, total: 2 }] } };
      if (name === 'HostPool') return { host: { ...host, pool: [{ __typename: 'KindPool', kind: 'GPU', free: hostFree++, total: 2 }] } };
      return {
        host: {
          ...host,
          devices: page('HostDevicesConnection', [device('d1', '0000:65:00.0', 'ASSIGNED', 'v1'), device('d2', '0000:66:00.0', 'DETACHED', null)]),
          vms: page('HostVmsConnection', [{ __typename: 'VM', id: 'v1', name: 'vm-a', devices: page('VMDevicesConnection', [{ __typename: 'Device', id: 'd1', kind: 'GPU' }]) }]),
        },
      };
    });
    const hostPage = watch(api.client.query(HostDevices, { id: 'h1' }));
    const hostPool = watch(api.client.query(HostPool, { id: 'h1' }));
    const pool = watch(api.client.query(Pool, {}));
    api.client.subscription(DeviceEvents, {}).subscribe(() => {});
    const vmDevices = () => hostPage()?.host?.vms.nodes[0]?.devices.nodes.map((d) => d.id);
    await vi.waitFor(() => expect(vmDevices()).toEqual(['d1']));
    await vi.waitFor(() => expect(pool()?.pool.byKind[0]?.free).toBe(1));
    await vi.waitFor(() => expect(hostPool()?.host?.pool[0]?.free).toBe(1));

    api.emit('DeviceEvents', deviceEvent(device('d1', '0000:65:00.0', 'DETACHED', null)));
    await vi.waitFor(() => expect(vmDevices()).toEqual([]));
    expect(hostPage()?.host?.devices.nodes.map((d) => [d.id, d.status])).toEqual([
      ['d1', 'DETACHED'],
      ['d2', 'DETACHED'],
    ]);
    await vi.waitFor(() => expect(pool()?.pool.byKind[0]?.free).toBe(2));
    await vi.waitFor(() => expect(hostPool()?.host?.pool[0]?.free).toBe(2));

    api.emit('DeviceEvents', deviceEvent(device('d2', '0000:66:00.0', 'ASSIGNED', 'v1')));
    await vi.waitFor(() => expect(vmDevices()).toEqual(['d2']));

    api.emit('DeviceEvents', deviceEvent(device('d3', '0000:64:00.0', 'ATTACHED', null)));
    await vi.waitFor(() => expect(hostPage()?.host?.devices.nodes.map((d) => d.id)).toEqual(['d3', 'd1', 'd2']));
    expect(api.asked.filter((name) => name === 'HostDevices')).toEqual(['HostDevices']);
  });
});

describe('a connection on an entity field is kept true: its first page, and whether more follow', () => {
  const FirstDevices = graphql(`
    query FirstDevices($id: ID!) {
      host(id: $id) {
        id
        devices(first: 2) { nodes { id address } pageInfo { hasNextPage } }
        usb: devices(first: 2, kind: USB) { nodes { id address } pageInfo { hasNextPage } }
      }
    }
  `);

  it('a new item goes in order and pushes the last off a full page, an item of another kind stays out, and a page that learns more follow reads again', async () => {
    const answers = [
      [device('d2', '0000:66:00.0', 'DETACHED', null), device('d4', '0000:68:00.0', 'DETACHED', null)],
      [device('d1', '0000:65:00.0', 'ATTACHED', null), device('d2', '0000:66:00.0', 'DETACHED', null)],
    ];
    let asked = 0;
    const api = fakeApi(schema, () => {
      const nodes = answers[Math.min(asked++, answers.length - 1)] ?? [];
      return { host: { ...host, devices: page('HostDevicesConnection', nodes, asked > 1), usb: page('HostDevicesConnection', []) } };
    });
    const first = watch(api.client.query(FirstDevices, { id: 'h1' }));
    api.client.subscription(DeviceEvents, {}).subscribe(() => {});
    const shown = () => {
      const devices = first()?.host?.devices;
      return devices && { ids: devices.nodes.map((d) => d.id), more: devices.pageInfo.hasNextPage };
    };
    await vi.waitFor(() => expect(shown()).toEqual({ ids: ['d2', 'd4'], more: false }));

    // An update of a device the page shows changes it in place and nothing else.
    api.emit('DeviceEvents', deviceEvent(device('d2', '0000:66:00.0', 'ATTACHING', null)));
    await vi.waitFor(() => expect(first()?.host?.devices.nodes[0]?.id).toBe('d2'));
    expect(api.asked).toEqual(['FirstDevices']);

    // A new GPU lands in order on the full page; the page said nothing follows, so it reads again.
    api.emit('DeviceEvents', deviceEvent(device('d1', '0000:65:00.0', 'ATTACHED', null)));
    await vi.waitFor(() => expect(shown()).toEqual({ ids: ['d1', 'd2'], more: true }));
    expect(first()?.host?.usb.nodes).toEqual([]);
    expect(api.asked).toEqual(['FirstDevices', 'FirstDevices']);

    // Past the end of a page that already says more follow, a new one changes nothing.
    api.emit('DeviceEvents', deviceEvent(device('d5', '0000:69:00.0', 'ATTACHED', null)));
    await vi.waitFor(() => expect(shown()).toEqual({ ids: ['d1', 'd2'], more: true }));
    expect(api.asked).toEqual(['FirstDevices', 'FirstDevices']);
  });

  it('a page the event cannot decide for reads again: an operation whose first page of devices does not show the device a list is filtered by', async () => {
    const DeviceOperations = graphql(
      `
        query DeviceOperations($filter: OperationFilter) {
          operations(first: 10, filter: $filter) { nodes { ...OperationRowFields } }
        }
      `,
      [OperationRowFields],
    );
    const operation = (id: string, devices: ReturnType<typeof device>[], more: boolean) => ({
      __typename: 'Operation',
      id,
      type: 'DETACH',
      status: 'PENDING',
      actor: 'user:admin',
      error: null,
      createdAt: '2030-01-01T10:00:00.000Z',
      finishedAt: null,
      durationMs: null,
      host,
      vm: null,
      devices: page('OperationDevicesConnection', devices, more),
    });
    const operationEvent = (op: ReturnType<typeof operation>) => ({ operationChanged: { __typename: 'OperationChange', cursor: '8', operation: op } });
    const api = fakeApi(schema, () => ({ operations: page('QueryOperationsConnection', []) }));
    const ops = watch(api.client.query(DeviceOperations, { filter: { deviceId: 'd9' } }));
    api.client.subscription(OperationEvents, {}).subscribe(() => {});
    await vi.waitFor(() => expect(ops()?.operations.nodes).toEqual([]));

    // All its devices are on the page and d9 is not among them: it does not belong.
    api.emit('OperationEvents', operationEvent(operation('o1', [device('d1', '0000:65:00.0', 'DETACHING', null)], false)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(api.asked).toEqual(['DeviceOperations']);
    // More devices than its page shows: d9 may be one of them.
    api.emit('OperationEvents', operationEvent(operation('o2', [device('d1', '0000:65:00.0', 'DETACHING', null)], true)));
    await vi.waitFor(() => expect(api.asked).toEqual(['DeviceOperations', 'DeviceOperations']));
  });
});

describe('vmChanged reads a VM count again only when a VM was created or deleted', () => {
  const HostVmCounts = graphql(`
    query HostVmCounts {
      hosts(first: 10) { nodes { id name vmCount } }
    }
  `);
  const vm = (status: string) => ({
    __typename: 'VM',
    id: 'v1',
    name: 'vm-a',
    status,
    cores: 2,
    memoryMb: 2048,
    diskGb: 20,
    createdAt: '2030-01-01T10:00:00.000Z',
    deletedAt: null,
    host,
    plan: null,
    devices: page('VMDevicesConnection', []),
  });
  const vmEvent = (cursor: string, status: string) => ({ vmChanged: { __typename: 'VmChange', cursor, vm: vm(status) } });

  it('a VM that starts keeps the count; one that is created or deleted makes it read again', async () => {
    let vms = 0;
    const api = fakeApi(schema, () => ({ hosts: page('QueryHostsConnection', [{ ...host, vmCount: vms++ }]) }));
    const hosts = watch(api.client.query(HostVmCounts, {}));
    api.client.subscription(VmEvents, {}).subscribe(() => {});
    const count = () => hosts()?.hosts.nodes[0]?.vmCount;
    await vi.waitFor(() => expect(count()).toBe(0));

    api.emit('VmEvents', vmEvent('3', 'PROVISIONING'));
    await vi.waitFor(() => expect(count()).toBe(1));
    api.emit('VmEvents', vmEvent('4', 'RUNNING'));
    api.emit('VmEvents', vmEvent('5', 'DELETED'));
    await vi.waitFor(() => expect(count()).toBe(2));
    expect(api.asked).toEqual(['HostVmCounts', 'HostVmCounts', 'HostVmCounts']);
  });
});
