import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { count, inArray } from 'drizzle-orm';
import type { Plugin } from 'graphql-yoga';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from './db/client.ts';
import { devices, hosts, operations } from './db/schema/index.ts';
import type { OperationRow } from './domain/operations.ts';

/** What the gauges read when Prometheus scrapes: counts in the database and this process's connections. */
export interface MetricsSources {
  database: Database;
  /** Subscriptions open on this process (graphql-ws and server-sent events). */
  subscriptions(): number;
  /** Hosts whose agent holds a socket to this process. */
  connectedAgents(): number;
}

/** Where an HTTP request went, a label of bounded cardinality. */
export type Route = 'graphql' | 'console' | 'probe' | 'metrics' | 'refused';

const OPEN_STATUSES = ['PENDING', 'RUNNING'] as const;

/**
 * The server's Prometheus metrics (prom-client), one registry per server: the process's own,
 * HTTP requests by route, GraphQL operations by name (yoga's Prometheus plugin), operations by
 * type and status with their durations, devices, hosts, agents, subscriptions, the change
 * feed's delivery lag and how long transactions wait for a database connection. Every metric
 * is listed in the README.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #http: Histogram<'route' | 'method' | 'status'>;
  readonly #finished: Histogram<'type' | 'status'>;
  readonly #feedLag: Histogram;
  readonly #transactionWait: Histogram;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#http = new Histogram({
      name: 'passthru_http_request_duration_seconds',
      help: 'HTTP requests by route (graphql, console, probe, metrics, refused), method and status, from arrival to the end of the response.',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#finished = new Histogram({
      name: 'passthru_operation_duration_seconds',
      help: 'Operations finished by this process (agent answers and timeouts), by type and final status: seconds from queued to finished. Its _count is the operations finished.',
      labelNames: ['type', 'status'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.#feedLag = new Histogram({
      name: 'passthru_change_feed_lag_seconds',
      help: "Seconds from a change's commit (its change-log time) to this process handing it to its subscribers.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#transactionWait = new Histogram({
      name: 'passthru_database_transaction_wait_seconds',
      help: 'Seconds a transaction waits for a pooled database connection and its BEGIN before its first statement.',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    // Read at scrape time, so every server process reports the same counts for the whole fleet.
    const read = async <L extends string>(gauge: Gauge<L>, query: (database: Database) => Promise<{ labels: Record<L, string>; value: number }[]>) => {
      const rows = await query(sources.database);
      gauge.reset();
      for (const { labels, value } of rows) gauge.set(labels, value);
    };
    new Gauge({
      name: 'passthru_devices',
      help: 'Devices by kind and status (the database, all hosts).',
      labelNames: ['kind', 'status'],
      registers,
      async collect() {
        await read(this, async ({ db }) =>
          (await db.select({ kind: devices.kind, status: devices.status, n: count() }).from(devices).groupBy(devices.kind, devices.status)).map((row) => ({
            labels: { kind: row.kind, status: row.status },
            value: row.n,
          })),
        );
      },
    });
    new Gauge({
      name: 'passthru_hosts',
      help: 'Hosts by status (ONLINE, OFFLINE, ...), from the database.',
      labelNames: ['status'],
      registers,
      async collect() {
        await read(this, async ({ db }) =>
          (await db.select({ status: hosts.status, n: count() }).from(hosts).groupBy(hosts.status)).map((row) => ({ labels: { status: row.status }, value: row.n })),
        );
      },
    });
    new Gauge({
      name: 'passthru_operations_open',
      help: 'Operations queued (PENDING) or under way (RUNNING), by type and status, from the database.',
      labelNames: ['type', 'status'],
      registers,
      async collect() {
        await read(this, async ({ db }) =>
          (
            await db
              .select({ type: operations.type, status: operations.status, n: count() })
              .from(operations)
              .where(inArray(operations.status, [...OPEN_STATUSES]))
              .groupBy(operations.type, operations.status)
          ).map((row) => ({ labels: { type: row.type, status: row.status }, value: row.n })),
        );
      },
    });
    new Gauge({
      name: 'passthru_agents_connected',
      help: 'Hosts whose agent holds a socket to this process.',
      registers,
      collect() {
        this.set(sources.connectedAgents());
      },
    });
    new Gauge({
      name: 'passthru_subscriptions',
      help: 'Live subscriptions open on this process.',
      registers,
      collect() {
        this.set(sources.subscriptions());
      },
    });
  }

  /** Yoga's Prometheus plugin on this registry: GraphQL operations by name and type, their durations and errors. */
  graphqlPlugin(): Plugin {
    return usePrometheus({
      registry: this.registry,
      endpoint: false,
      metrics: {
        graphql_envelop_request: true,
        graphql_envelop_request_duration: true,
        graphql_envelop_error_result: true,
        // Off: the rest cost per request (a summary's digest, a visit of every document) for little.
        graphql_envelop_request_time_summary: false,
        graphql_envelop_phase_parse: false,
        graphql_envelop_phase_validate: false,
        graphql_envelop_phase_context: false,
        graphql_envelop_phase_execute: false,
        graphql_envelop_phase_subscribe: false,
        graphql_envelop_deprecated_field: false,
        graphql_envelop_schema_change: false,
        graphql_envelop_execute_resolver: false,
        // passthru_http_request_duration_seconds covers every route.
        graphql_yoga_http_duration: false,
      },
      // A path's indices would make one series per list item.
      labels: { path: false },
    });
  }

  /** Times an HTTP request until its response has been sent. */
  observeHttp(req: IncomingMessage, res: ServerResponse, route: Route) {
    const end = this.#http.startTimer({ route, method: req.method ?? 'GET' });
    res.once('finish', () => end({ status: String(res.statusCode) }));
  }

  operationFinished(operation: Pick<OperationRow, 'type' | 'status' | 'createdAt' | 'finishedAt'>) {
    const seconds = ((operation.finishedAt ?? new Date()).getTime() - operation.createdAt.getTime()) / 1000;
    this.#finished.observe({ type: operation.type, status: operation.status }, Math.max(seconds, 0));
  }

  changeDelivered(committedAt: Date, now = Date.now()) {
    this.#feedLag.observe(Math.max(now - committedAt.getTime(), 0) / 1000);
  }

  transactionWaited(seconds: number) {
    this.#transactionWait.observe(seconds);
  }
}

/**
 * GET /metrics in the Prometheus text format; with PASSTHRU_METRICS_TOKEN set, only for a
 * scraper that sends it as a bearer token. Returns null for any other request.
 */
export function metricsEndpoint(metrics: Metrics, token: string | undefined) {
  const expected = token ? Buffer.from(`Bearer ${token}`) : null;
  return (req: IncomingMessage): ((res: ServerResponse) => Promise<void>) | null => {
    if (req.url?.split('?')[0] !== '/metrics') return null;
    return async (res) => {
      const presented = Buffer.from(req.headers.authorization ?? '');
      if (expected && (presented.length !== expected.length || !timingSafeEqual(presented, expected))) {
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="metrics"' });
        res.end('/metrics needs the token set in PASSTHRU_METRICS_TOKEN, as "Authorization: Bearer <token>"\n');
        return;
      }
      try {
        const body = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
        res.end(body);
      } catch (error) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end(`metrics unavailable: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    };
  };
}
