import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { eventually } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

/** The value of one series in a Prometheus text exposition, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const seen = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key!, value!]));
    if (Object.entries(labels).every(([key, value]) => seen[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}/metrics`, { headers });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

const DETACH_FOR_METRICS = graphql(`mutation DetachForMetrics($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`);

describe('/metrics in the Prometheus format', () => {
  let server: TestServer;
  let seed: Seed;

  beforeAll(async () => {
    server = await startTestServer({ config: { heartbeatFlushIntervalMs: 100 } });
    seed = new Seed(server.client, server.url);
  });
  afterAll(() => server.stop());

  it('reports devices by kind and status, hosts, connected agents and subscriptions, as the fleet is now', async () => {
    const { id: hostId } = await seed.cluster().host({ name: 'metered', gpus: 2, usb: 1 });
    const devices = await seed.devices(hostId);
    const { status, type, text } = await scrape(server.url);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    // This is the only host so far: the gauges count exactly its devices.
    const counted = new Map<string, number>();
    for (const device of devices) counted.set(`${device.kind} ${device.status}`, (counted.get(`${device.kind} ${device.status}`) ?? 0) + 1);
    expect(counted.size).toBeGreaterThan(0);
    for (const [key, n] of counted) {
      const [kind, deviceStatus] = key.split(' ');
      expect(sample(text, 'passthru_devices', { kind: kind!, status: deviceStatus! }), key).toBe(n);
    }
    expect(sample(text, 'passthru_hosts', { status: 'ONLINE' })).toBeGreaterThanOrEqual(1);
    // The agent's socket and its operation stream, once graphql-ws has opened them.
    await eventually(async () => {
      const now = (await scrape(server.url)).text;
      return (sample(now, 'passthru_agents_connected') ?? 0) >= 1 && (sample(now, 'passthru_subscriptions') ?? 0) >= 1;
    });
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
  });

  it('counts finished operations by type and status with their durations, and GraphQL operations by name', async () => {
    const { id: hostId } = await seed.cluster().host({ name: 'operated', usb: 1 });
    const [usb] = await seed.devices(hostId);
    const before = sample((await scrape(server.url)).text, 'passthru_operation_duration_seconds_count', { type: 'DETACH', status: 'SUCCEEDED' }) ?? 0;
    await server.client.data(DETACH_FOR_METRICS, { id: usb!.id });
    await eventually(async () => (await seed.device(usb!.id)).status === 'DETACHED');

    const { text } = await scrape(server.url);
    expect(sample(text, 'passthru_operation_duration_seconds_count', { type: 'DETACH', status: 'SUCCEEDED' })).toBe(before + 1);
    expect(sample(text, 'passthru_operation_duration_seconds_sum', { type: 'DETACH', status: 'SUCCEEDED' })).toBeGreaterThan(0);
    expect(sample(text, 'graphql_envelop_request', { operationName: 'DetachForMetrics', operationType: 'mutation' })).toBe(1);
    expect(sample(text, 'graphql_envelop_request_duration_count', { operationName: 'DetachForMetrics' })).toBe(1);
    expect(sample(text, 'passthru_http_request_duration_seconds_count', { route: 'graphql', method: 'POST', status: '200' })).toBeGreaterThan(0);
    expect(sample(text, 'passthru_change_feed_lag_seconds_count')).toBeGreaterThan(0);
    expect(sample(text, 'passthru_database_transaction_wait_seconds_count')).toBeGreaterThan(0);
    expect(sample(text, 'passthru_operations_open', { type: 'DETACH', status: 'PENDING' }) ?? 0).toBe(0);
  });

  it('every metric the README lists is exported, and every passthru_ metric exported is listed', async () => {
    const { readFile } = await import('node:fs/promises');
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const listed = new Set([...readme.matchAll(/^\| `((?:passthru|graphql_envelop|process|nodejs)_[a-z_]+)`/gm)].map((match) => match[1]!));
    const { text } = await scrape(server.url);
    const exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!));
    expect([...listed].filter((name) => !exported.has(name))).toEqual([]);
    expect([...exported].filter((name) => name.startsWith('passthru_') && !listed.has(name))).toEqual([]);
  });
});

describe('/metrics with PASSTHRU_METRICS_TOKEN set', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: { metricsToken: 'scrape-me' } });
  });
  afterAll(() => server.stop());

  it('is refused without the token, or with another, and answered with it', async () => {
    expect((await scrape(server.url)).status).toBe(401);
    expect((await scrape(server.url, { authorization: 'Bearer scrape-mf' })).status).toBe(401);
    const answered = await scrape(server.url, { authorization: 'Bearer scrape-me' });
    expect(answered.status).toBe(200);
    expect(answered.text).toContain('# TYPE passthru_devices gauge');
  });
});
