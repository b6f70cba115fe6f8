// The floor of bench/fanout.ts: a bare `ws` server that speaks just enough graphql-ws for the
// same clients to subscribe (init/ack, ping/pong, subscribe/complete), keeps subscribers in
// per-host sets, and on each trigger from the load generator sends one pre-serialized frame
// to every matching subscriber. No database, no GraphQL execution: what delivery costs when
// nothing but the sockets is left.
//
// Started by bench/fanout.ts: PORT=… node --import tsx bench/support/floor-server.ts
import { WebSocketServer, type WebSocket } from 'ws';

interface Subscription {
  socket: WebSocket;
  id: string;
}

interface Trigger {
  seq: number;
  hostId: string;
  /** The deviceChanged value Passthru would send. */
  value: unknown;
}

const everyHost = new Set<Subscription>();
const byHost = new Map<string, Set<Subscription>>();

function setFor(hostId: string | null): Set<Subscription> {
  if (hostId === null) return everyHost;
  let set = byHost.get(hostId);
  if (!set) byHost.set(hostId, (set = new Set()));
  return set;
}

function hostIdOf(variables: unknown): string | null {
  if (variables && typeof variables === 'object' && 'hostId' in variables && typeof variables.hostId === 'string') return variables.hostId;
  return null;
}

function serveSubscriber(socket: WebSocket) {
  const mine = new Map<string, { subscription: Subscription; set: Set<Subscription> }>();
  socket.on('message', (raw) => {
    const message: { type?: string; id?: string; payload?: { variables?: unknown } } = JSON.parse(String(raw));
    switch (message.type) {
      case 'connection_init':
        socket.send('{"type":"connection_ack"}');
        break;
      case 'ping':
        socket.send('{"type":"pong"}');
        break;
      case 'subscribe': {
        if (!message.id) return;
        const subscription = { socket, id: message.id };
        const set = setFor(hostIdOf(message.payload?.variables));
        set.add(subscription);
        mine.set(message.id, { subscription, set });
        break;
      }
      case 'complete': {
        const entry = message.id ? mine.get(message.id) : undefined;
        entry?.set.delete(entry.subscription);
        if (message.id) mine.delete(message.id);
        break;
      }
    }
  });
  socket.on('close', () => {
    for (const { subscription, set } of mine.values()) set.delete(subscription);
  });
}

function serveControl(socket: WebSocket) {
  socket.on('message', (raw) => {
    const trigger: Trigger = JSON.parse(String(raw));
    const at = performance.timeOrigin + performance.now();
    // Serialized once; only the subscription ID differs per frame.
    const tail = `","type":"next","payload":${JSON.stringify({ data: { deviceChanged: trigger.value } })}}`;
    for (const set of [everyHost, byHost.get(trigger.hostId)]) {
      for (const subscription of set ?? []) subscription.socket.send(`{"id":"${subscription.id}${tail}`);
    }
    socket.send(JSON.stringify({ seq: trigger.seq, at }));
  });
}

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.env.PORT),
  handleProtocols: (protocols) => (protocols.has('graphql-transport-ws') ? 'graphql-transport-ws' : false),
});
server.on('connection', (socket, request) => (request.url === '/control' ? serveControl(socket) : serveSubscriber(socket)));
server.on('listening', () => console.log('floor listening'));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
