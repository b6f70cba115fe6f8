import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { createLogger } from '../../server/logger.ts';
import { TestClient } from '../support/client.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

// Production answers and logs give nothing away: no schema hints, no query parameters, and a
// message on every log line, with refusals at info.

const USERS = graphql(`{ users { id } }`);
const AUDIT_BY_ACTOR = graphql(`query($actor: String) { auditLog(actor: $actor) { nodes { id } } }`);

interface LogLine {
  level: number;
  msg?: string;
  [key: string]: unknown;
}

describe('in production', () => {
  let server: TestServer;
  const lines: LogLine[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    // The server's own logger (serializers, redaction), written where the test reads it.
    server = await startTestServer({ config: { introspection: false, graphiql: false }, logger: createLogger('debug', sink) });
  });
  afterAll(() => server.stop());

  it('answers name no enum value, field or input field the caller did not', async () => {
    const answers = [
      await server.client.request(`{ devices(filter: { kind: GPX }) { nodes { id } } }`),
      await server.client.request(`{ devices { nodes { adress } } }`),
      await server.client.request(`query($f: DeviceFilter) { devices(filter: $f) { nodes { id } } }`, { f: { kinds: 'GPU' } }),
      await server.client.request(`query($f: DeviceFilter) { devices(filter: $f) { nodes { id } } }`, { f: { kind: 'GPX' } }),
    ];
    for (const answer of answers) {
      expect(answer.errors?.length, JSON.stringify(answer)).toBeGreaterThan(0);
      for (const error of answer.errors ?? []) expect(error.message).not.toMatch(/did you mean/i);
    }
    expect(answers[0]!.errors![0]!.message).toBe('Value "GPX" does not exist in "DeviceKind" enum.');
  });

  it('logs refusals at info with a message, and a failed query with its SQL but not its parameters', async () => {
    const anonymous = new TestClient(server.url, null);
    await anonymous.request(USERS);
    const refusal = lines.find((line) => line.msg?.includes('Sign in, or send an API token'));
    expect(refusal).toMatchObject({ level: 30, code: 'NotAuthorizedError' });

    await server.app.database.db.execute(sql`alter table audit_log rename column actor to actor_gone`);
    try {
      const answer = await server.client.request(AUDIT_BY_ACTOR, { actor: 'marker-parameter-7f3a' });
      expect(answer.errors?.[0]?.message).toBe('Unexpected error.');
    } finally {
      await server.app.database.db.execute(sql`alter table audit_log rename column actor_gone to actor`);
    }
    const failure = lines.find((line) => line.level === 50 && JSON.stringify(line).includes('Failed query'));
    expect(failure).toMatchObject({ msg: 'GraphQL request failed', err: { message: expect.stringMatching(/^Failed query: select .* from "audit_log"/) } });
    expect(JSON.stringify(failure)).not.toMatch(/params/);
    expect(JSON.stringify(lines)).not.toContain('marker-parameter-7f3a');
    for (const line of lines) expect(typeof line.msg, JSON.stringify(line).slice(0, 300)).toBe('string');
  });
});
