import { getNamedType, isListType, isNonNullType, isObjectType, print, type GraphQLOutputType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { sql } from 'drizzle-orm';
import { queryRows } from '../support/snapshot.ts';
import { buildSchema } from '../../server/graphql/schema.ts';
import { costKey, MAX_QUERY_COST, PAGE_SIZE } from '../../server/graphql/query-cost.ts';
import { Seed } from '../support/seed.ts';
import { ADMIN, signedInClient, startTestServer, type TestServer } from '../support/server.ts';
import type { GraphQLResponse, TestClient } from '../support/client.ts';

const HOUR = 60 * 60 * 1000;

/** The break-in's query: every device of a host, and under each, every device of its host again. */
const NESTED_DEVICES = graphql(`query($id: ID!, $n: Int) { host(id: $id) { pool { total } devices(first: $n) { pageInfo { hasNextPage } nodes { id host { devices(first: $n) { nodes { id } } } } } } }`);
const NESTED_SUBSCRIPTION = graphql(`subscription($n: Int) { deviceChanged { device { host { devices(first: $n) { nodes { host { devices(first: $n) { nodes { id } } } } } } } } }`);
const HUGE_PAGE = graphql(`query($id: ID!) { host(id: $id) { devices(first: 100000) { nodes { id } pageInfo { hasNextPage } } } }`);
const NODES_DEVICES = graphql(`query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Host { devices { nodes { id } } } } }`);

describe('every list that grows with the fleet is a page, and a query is costed before it runs', () => {
  let server: TestServer;
  let viewer: TestClient;
  let statements: string[] | null = null;
  const crowded: Record<number, string> = {};

  /** A host whose agent reports `count` USB devices; its global ID. */
  async function hostWithDevices(count: number) {
    const seed = new Seed(server.client, server.url);
    const { id: hostId, agent } = await seed.cluster(`crowded-${count}`).host({ name: `crowded-${count}`, usb: count });
    await agent.disconnect();
    return hostId;
  }

  /** A request and the SQL statements it caused. */
  async function traced<Result>(send: () => Promise<GraphQLResponse<Result>>) {
    statements = [];
    const answer = await send();
    const ran = statements;
    statements = null;
    return { ...answer, statements: ran };
  }

  beforeAll(async () => {
    server = await startTestServer({
      config: { sweepIntervalMs: HOUR, changePollMs: HOUR, heartbeatFlushIntervalMs: HOUR },
      onQuery: (statement) => statements?.push(statement),
    });
    viewer = await signedInClient(server.url, ADMIN, 'VIEWER');
    crowded[1000] = await hostWithDevices(1000);
    crowded[4096] = await hostWithDevices(4096);
  });
  afterAll(() => server.stop());

  it.each([1000, 4096])('the nested device query on a host with %i devices is refused before any SQL when it asks for full pages', async (count) => {
    const { data, errors, statements: ran } = await traced(() => viewer.request(NESTED_DEVICES, { id: crowded[count]!, n: PAGE_SIZE.max }));
    expect(data).toBeUndefined();
    expect(errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COSTLY', maxCost: MAX_QUERY_COST });
    expect(errors?.[0]?.message).toMatch(/smaller pages/);
    // Refused before it ran: authentication is cached for a signed-in client, the query read nothing.
    expect(ran.filter((statement) => /from "devices"/.test(statement))).toEqual([]);
  });

  it.each([1000, 4096])('the same query on %i devices with the default pages answers one bounded page', async (count) => {
    const { data, errors } = await traced(() => viewer.request(NESTED_DEVICES, { id: crowded[count]! }));
    expect(errors).toBeUndefined();
    expect(data!.host!.pool).toEqual([{ total: count }]);
    expect(data!.host!.devices.pageInfo.hasNextPage).toBe(true);
    expect(data!.host!.devices.nodes).toHaveLength(PAGE_SIZE.default);
    for (const device of data!.host!.devices.nodes) expect(device.host.devices.nodes).toHaveLength(PAGE_SIZE.default);
  });

  it("an inventory report of many new devices refreshes the planner's statistics, so a page of them reads only its page", async () => {
    const [devicesTable] = await queryRows<{ rows: number }>(server.app.database.db, sql`select reltuples::int as rows from pg_class where relname = 'devices'`);
    expect(devicesTable!.rows).toBeGreaterThanOrEqual(1000 + 4096);
  });

  it('a page size passed as a variable is costed like one written in the query', async () => {
    const inline = await traced(() => viewer.request(print(NESTED_DEVICES).replace(', $n: Int', '').replaceAll('$n', String(PAGE_SIZE.max)), { id: crowded[1000]! }));
    const variable = await traced(() => viewer.request(NESTED_DEVICES, { id: crowded[1000]!, n: PAGE_SIZE.max }));
    expect(inline.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COSTLY');
    expect(variable.errors?.[0]?.extensions).toEqual(inline.errors?.[0]?.extensions);
  });

  it("one document asked with a small page, a too-large one, then the small one again is costed by each request's own sizes (its cost is remembered per size)", async () => {
    const small = await traced(() => viewer.request(NESTED_DEVICES, { id: crowded[1000]!, n: 10 }));
    const large = await traced(() => viewer.request(NESTED_DEVICES, { id: crowded[1000]!, n: PAGE_SIZE.max }));
    const again = await traced(() => viewer.request(NESTED_DEVICES, { id: crowded[1000]!, n: 10 }));
    expect(small.errors).toBeUndefined();
    expect(large.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COSTLY');
    expect(again.errors).toBeUndefined();
    expect(costKey({ id: 'a', n: 10, ids: ['x', 'y'], filter: { first: 9 } })).toBe(costKey({ id: 'b', n: 10, ids: ['z', 'w'], filter: { first: 1 } }));
    expect(costKey({ n: 10 })).not.toBe(costKey({ n: 11 }));
    expect(costKey({ ids: ['x'] })).not.toBe(costKey({ ids: ['x', 'y'] }));
  });

  it('a subscription is costed too: one whose event could be the nested query with full pages is refused, over graphql-ws', async () => {
    const stream = viewer.subscribe(NESTED_SUBSCRIPTION, { n: PAGE_SIZE.max });
    const refused = await stream.next((event) => Boolean(event.errors?.length));
    expect(refused.errors?.[0]?.message).toMatch(/over the limit of 50000: ask for smaller pages/);
    stream.close();
  });

  it('a page never holds more than the largest page, whatever it asks for', async () => {
    const { data, errors } = await traced(() => viewer.request(HUGE_PAGE, { id: crowded[1000]! }));
    if (errors) expect(errors[0]?.message).toMatch(/500|first/i);
    else {
      expect(data!.host!.devices.nodes).toHaveLength(PAGE_SIZE.max);
      expect(data!.host!.devices.pageInfo.hasNextPage).toBe(true);
    }
  });

  it('nodes(ids:) costs what it names', async () => {
    // Each ID costs its page of 20 devices: 5,000 of them (250 kB, under the body limit) are over.
    const ids = Array.from({ length: 5000 }, () => crowded[1000]!);
    const { errors, statements: ran } = await traced(() => viewer.request(NODES_DEVICES, { ids }));
    expect(errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COSTLY');
    expect(ran.filter((statement) => /from "hosts"/.test(statement))).toEqual([]);
  });

  it('every list of objects that grows with the fleet is a connection with a capped first', () => {
    // Lists whose length is set by an administrator (clusters, plans, users, tokens), by one
    // operation or plan (a mutation's devices, the GPUs a plan gets), by the kinds of device, by
    // the state machine (a device's actions) or by the hardware (the functions of an IOMMU group).
    const bounded = new Set([
      'Query.clusters', 'Query.servicePlans', 'Query.users', 'Query.apiTokens', 'Query.nodes',
      'DeviceOperationSuccess.devices', 'VmOperationSuccess.devices', 'Capacity.gpus',
      'Pool.byKind', 'Pool.byModel', 'Host.pool', 'AuditEntry.targets',
      'Device.actions', 'Device.iommuGroupMembers', 'IommuGroupMembersError.members',
      // One per kind of warning a plan can have.
      'ServicePlan.warnings',
    ]);
    const isList = (type: GraphQLOutputType) => isListType(type) || (isNonNullType(type) && isListType(type.ofType));
    const schema = buildSchema();
    const unbounded: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__') || type.name.endsWith('Connection')) continue;
      for (const field of Object.values(type.getFields())) {
        const name = `${type.name}.${field.name}`;
        if (!isList(field.type) || bounded.has(name) || type.name === 'Subscription') continue;
        if (!isObjectType(getNamedType(field.type))) continue;
        if (!field.args.some((arg) => arg.name === 'first' || arg.name === 'last')) unbounded.push(name);
      }
    }
    expect(unbounded).toEqual([]);
  });
});
