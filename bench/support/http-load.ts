// A closed-loop HTTP load generator: `concurrency` requests in flight over keep-alive
// connections for `durationMs`, each started as soon as one returns. node:http rather than
// fetch, so the load generator's own cost stays small beside the server's.
import { Agent, request } from 'node:http';
import { percentile, sortedCopy } from './stats.ts';

export interface LoadTarget {
  url: string;
  body: string;
  headers?: Record<string, string>;
}

export interface LoadResult {
  requests: number;
  failed: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** The first failure's status and body, to say why. */
  firstError: string | null;
}

export interface Response {
  status: number;
  body: string;
}

export function post(agent: Agent, target: LoadTarget): Promise<Response> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(target.body);
    const req = request(
      target.url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, ...target.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A GraphQL (or floor) answer counts as failed on a non-200 status or a top-level `errors`. */
function failure(response: Response): string | null {
  if (response.status !== 200) return `HTTP ${response.status}: ${response.body.slice(0, 300)}`;
  if (response.body.startsWith('{"errors"') || response.body.includes('"errors":[')) return response.body.slice(0, 300);
  return null;
}

export async function runLoad(target: LoadTarget, concurrency: number, durationMs: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let failed = 0;
  let firstError: string | null = null;
  let measuring = false;
  // Warm-up: one request on each of a few connections, not measured, so the server's caches
  // are ready; more would only cost time where a request takes seconds.
  let stopAt = 0;
  const worker = async () => {
    do {
      const started = performance.now();
      let error: string | null;
      try {
        error = failure(await post(agent, target));
      } catch (caught) {
        error = caught instanceof Error ? caught.message : String(caught);
      }
      if (!measuring) continue;
      if (error === null) latencies.push(performance.now() - started);
      else {
        failed++;
        firstError ??= error;
      }
    } while (Date.now() < stopAt);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, 4) }, worker));
  measuring = true;
  const started = performance.now();
  stopAt = Date.now() + durationMs;
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  const sorted = sortedCopy(latencies);
  return { requests: latencies.length, failed, perSecond: latencies.length / elapsedS, p50: percentile(sorted, 50), p99: percentile(sorted, 99), firstError };
}
