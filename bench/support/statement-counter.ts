// Counts the SQL statements a server sends to PostgreSQL: a TCP proxy between the server and
// PostgreSQL that reads the client side of the wire protocol. A simple Query ('Q') is one
// statement; in the extended protocol each Execute ('E') runs the statement its portal was
// bound to ('B'), whose text came with its Parse ('P'). Transaction control (BEGIN, COMMIT,
// ROLLBACK, SAVEPOINT…) is counted apart, so "statements" means the ones that read or write.
// Servers of every kind (postgres.js, node-postgres) are counted the same way, without
// pg_stat_statements (which needs a server restart to load).
import { connect, createServer, type Server, type Socket } from 'node:net';

const CONTROL = /^\s*(begin|start transaction|commit|end|rollback|savepoint|release|set\s+transaction)\b/i;
const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;

export interface StatementCounter {
  port: number;
  statements: number;
  control: number;
  /** The statements' text, newest last (bounded), to show what a request ran. */
  recent: string[];
  close(): Promise<void>;
}

function cString(buffer: Buffer, offset: number): { text: string; next: number } {
  const end = buffer.indexOf(0, offset);
  return { text: buffer.toString('utf8', offset, end), next: end + 1 };
}

export async function startStatementCounter(upstream: { host: string; port: number }): Promise<StatementCounter> {
  const sockets = new Set<Socket>();
  const counter: StatementCounter = {
    port: 0,
    statements: 0,
    control: 0,
    recent: [],
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
  const record = (text: string) => {
    if (CONTROL.test(text)) counter.control++;
    else {
      counter.statements++;
      counter.recent.push(text.replace(/\s+/g, ' ').slice(0, 160));
      if (counter.recent.length > 50) counter.recent.shift();
    }
  };

  const server: Server = createServer((client) => {
    const db = connect(upstream.port, upstream.host);
    sockets.add(client).add(db);
    const drop = () => {
      client.destroy();
      db.destroy();
      sockets.delete(client);
      sockets.delete(db);
    };
    client.on('error', drop).on('close', drop);
    db.on('error', drop).on('close', drop);
    db.pipe(client);

    const statements = new Map<string, string>();
    const portals = new Map<string, string>();
    let startup = true;
    let pending: Buffer = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      db.write(chunk);
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        if (startup) {
          // Untyped: length, then a code (SSL/GSS request) or the startup message.
          if (pending.length < 8) return;
          const length = pending.readInt32BE(0);
          if (pending.length < length) return;
          const code = pending.readInt32BE(4);
          if (code !== SSL_REQUEST && code !== GSS_REQUEST) startup = false;
          pending = pending.subarray(length);
          continue;
        }
        if (pending.length < 5) return;
        const type = String.fromCharCode(pending[0]!);
        const length = pending.readInt32BE(1);
        if (pending.length < length + 1) return;
        const body = pending.subarray(5, length + 1);
        pending = pending.subarray(length + 1);
        if (type === 'Q') record(cString(body, 0).text);
        else if (type === 'P') {
          const name = cString(body, 0);
          statements.set(name.text, cString(body, name.next).text);
        } else if (type === 'B') {
          const portal = cString(body, 0);
          portals.set(portal.text, statements.get(cString(body, portal.next).text) ?? '');
        } else if (type === 'E') record(portals.get(cString(body, 0).text) ?? '');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP port for the statement counter');
  counter.port = address.port;
  return counter;
}
