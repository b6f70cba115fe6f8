// @vitest-environment node
import { describe, expect, it, vi } from 'vitest';
import type { OperationResultSource, OperationResult } from '@urql/core';
import { readIntrospection } from '../../../schema-introspection.ts';
import { graphql } from './graphql.ts';
import { fakeApi } from './fake-api.ts';
import { placed } from './cache-lists.ts';
import { OperationRowFields } from '../operations/fragments.ts';
import { DeviceRowFields } from '../devices/fragments.ts';
import { OperationEvents } from '../operations/operation-events.ts';
import { DeviceEvents } from '../devices/device-events.ts';

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
  const operation = (id: string, createdAt: string, status: string) => ({
    __typename: 'Operation',
    id,
    type: 'DETACH',
    status,
    actor: 'user:admin',
    error: null,
    createdAt,
    finishedAt: null,
    durationMs: null,
    host,
    vm: null,
    devices: [],
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
});

describe('deviceChanged updates devices in place and moves them between VMs', () => {
  const HostDevices = graphql(
    `
      query HostDevices($id: ID!) {
        host(id: $id) { id devices { ...DeviceRowFields } vms { id name devices { id kind } } }
      }
    `,
    [DeviceRowFields],
  );
  const Pool = graphql(`
    query Pool {
      pool { byKind { kind free total } }
    }
  `);
  const device = (id: string, address: string, status: string, vm: string | null) => ({
    __typename: 'Device',
    id,
    kind: 'GPU',
    name: 'A100',
    address,
    vendorId: '10de',
    productId: '20b0',
    vendorName: 'NVIDIA Corporation',
    productName: 'A100',
    serial: null,
    iommuGroup: 1,
    numaNode: 0,
    driver: 'vfio-pci',
    status,
    updatedAt: '2030-01-01T10:00:00.000Z',
    host,
    vm: vm ? { __typename: 'VM', id: vm, name: 'vm-a' } : null,
  });
  const event = (d: ReturnType<typeof device>) => ({ deviceChanged: { __typename: 'DeviceChange', cursor: '9', device: d } });

  it('a released device leaves its VM, an assigned one joins it, a new one joins its host, and only the pool counts are read again', async () => {
    let free = 1;
    const api = fakeApi(schema, (name) =>
      name === 'Pool'
        ? { pool: { __typename: 'Pool', byKind: [{ __typename: 'KindPool', kind: 'GPU', free: free++, total: 2 }] } }
        : {
            host: {
              ...host,
              devices: [device('d1', '0000:65:00.0', 'ASSIGNED', 'v1'), device('d2', '0000:66:00.0', 'DETACHED', null)],
              vms: [{ __typename: 'VM', id: 'v1', name: 'vm-a', devices: [{ __typename: 'Device', id: 'd1', kind: 'GPU' }] }],
            },
          },
    );
    const page = watch(api.client.query(HostDevices, { id: 'h1' }));
    const pool = watch(api.client.query(Pool, {}));
    api.client.subscription(DeviceEvents, {}).subscribe(() => {});
    const vmDevices = () => page()?.host?.vms[0]?.devices.map((d) => d.id);
    await vi.waitFor(() => expect(vmDevices()).toEqual(['d1']));
    await vi.waitFor(() => expect(pool()?.pool.byKind[0]?.free).toBe(1));

    api.emit('DeviceEvents', event(device('d1', '0000:65:00.0', 'DETACHED', null)));
    await vi.waitFor(() => expect(vmDevices()).toEqual([]));
    expect(page()?.host?.devices.map((d) => [d.id, d.status])).toEqual([
      ['d1', 'DETACHED'],
      ['d2', 'DETACHED'],
    ]);
    await vi.waitFor(() => expect(pool()?.pool.byKind[0]?.free).toBe(2));

    api.emit('DeviceEvents', event(device('d2', '0000:66:00.0', 'ASSIGNED', 'v1')));
    await vi.waitFor(() => expect(vmDevices()).toEqual(['d2']));

    api.emit('DeviceEvents', event(device('d3', '0000:64:00.0', 'ATTACHED', null)));
    await vi.waitFor(() => expect(page()?.host?.devices.map((d) => d.id)).toEqual(['d3', 'd1', 'd2']));
    expect(api.asked.filter((name) => name === 'HostDevices')).toEqual(['HostDevices']);
  });
});
