// Setting up a bench fleet through the public API, as an operator's script would.
import { graphql } from '../../protocol/graphql.ts';
import type { TestClient } from '../../tests/support/client.ts';
import { signedInClient } from '../../tests/support/server.ts';
import { Seed, type EnrolledHost } from '../../tests/support/seed.ts';
import { ADMIN_PASSWORD } from './processes.ts';

export async function adminClient(url: string, role: 'VIEWER' | 'ADMIN' = 'ADMIN'): Promise<TestClient> {
  return signedInClient(url, { username: 'admin', password: ADMIN_PASSWORD }, role);
}

/** Enrolls `count` hosts named bench-0… in a new cluster, `concurrency` at a time. */
export async function enrollHosts(admin: TestClient, count: number, concurrency = 8): Promise<EnrolledHost[]> {
  const cluster = await new Seed(admin).cluster('bench');
  const hosts: EnrolledHost[] = [];
  for (let start = 0; start < count; start += concurrency) {
    const names = Array.from({ length: Math.min(concurrency, count - start) }, (_, i) => `bench-${start + i}`);
    hosts.push(...(await Promise.all(names.map((name) => cluster.enroll(name)))));
  }
  return hosts;
}

const DeviceChangeType = graphql(`
  query DeviceChangeType { __type(name: "DeviceChange") { name } }
`);

/** Whether the server's subscriptions carry a resume cursor (the change-log shape). */
export async function hasCursorShape(admin: TestClient): Promise<boolean> {
  // gql.tada types introspection fields as unknown: only whether the type exists matters here.
  const { __type } = await admin.data(DeviceChangeType);
  return __type !== null;
}
