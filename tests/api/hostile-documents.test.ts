import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { stateSnapshot } from '../support/snapshot.ts';
import { admin, app, startFleet, stopFleet, url } from './support/callers.ts';

const CLUSTER_NAMES = graphql(`{ clusters { name } }`);

beforeAll(startFleet);
afterAll(stopFleet);

describe('hostile documents are refused before anything runs', () => {
  const refused = async (query: string) => {
    const before = await stateSnapshot(app.database.db);
    const { errors, data } = await admin.request(query);
    expect(data).toBeUndefined();
    expect(await stateSnapshot(app.database.db)).toEqual(before);
    return errors![0]!.message;
  };

  it('deep nesting', async () => {
    let query = 'id';
    for (let i = 0; i < 20; i++) query = `host { devices { nodes { ${query} } } }`;
    // Depth and cost both bound it; whichever trips first refuses it.
    expect(await refused(`{ devices { nodes { ${query} } } }`)).toMatch(/depth|cost/i);
  });

  it('hundreds of aliases', async () => {
    const aliases = Array.from({ length: 100 }, (_, i) => `a${i}: me { username }`).join(' ');
    expect(await refused(`{ ${aliases} }`)).toMatch(/aliases/i);
  });

  it('huge token counts', async () => {
    expect(await refused(`{ me { ${'username '.repeat(5000)} } }`)).toMatch(/token/i);
  });

  it('oversized bodies', async () => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.token}` },
      body: JSON.stringify({ query: `{ me { username } }`, variables: { pad: 'x'.repeat(2 * 1024 * 1024) } }),
    });
    expect(response.status).toBe(413);
  });

  it('cross-site simple requests (CSRF)', async () => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${admin.token}` },
      body: JSON.stringify({ query: `mutation { createCluster(input: { name: "csrf" }) { __typename } }` }),
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect((await admin.data(CLUSTER_NAMES)).clusters.map((c) => c.name)).not.toContain('csrf');
  });
});
