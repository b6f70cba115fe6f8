import { ChangeCursor, DeviceChanged, HostChanged, OperationChanged, VmChanged } from '../../protocol/commands.ts';
import type { Api, Subscription } from '../api.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { cell, json } from '../output.ts';
import { hostId } from '../resolve.ts';

type Emit = (topic: Topic, cursor: string, line: string, object: unknown) => void;
type Scope = { hostId?: string; after: string };

/** What `watch` can follow; each is one subscription, printed as one line per change. */
const TOPICS = {
  devices: (api: Api, scope: Scope, emit: Emit) =>
    api.subscribe(DeviceChanged, scope, ({ deviceChanged: { cursor, device: d } }) =>
      emit('devices', cursor, `device     ${d.host.name} ${d.address} ${d.kind} ${d.status}${d.vm ? ` vm=${d.vm.name}` : ''}  ${d.id}`, d),
    ),
  ops: (api: Api, scope: Scope, emit: Emit) =>
    api.subscribe(OperationChanged, scope, ({ operationChanged: { cursor, operation: o } }) =>
      emit('ops', cursor, `operation  ${o.host.name} ${o.type} ${o.status}${o.vm ? ` vm=${o.vm.name}` : ''}${o.error ? ` error=${JSON.stringify(o.error)}` : ''}  ${o.id}`, o),
    ),
  vms: (api: Api, scope: Scope, emit: Emit) =>
    api.subscribe(VmChanged, scope, ({ vmChanged: { cursor, vm: v } }) => emit('vms', cursor, `vm         ${v.host.name} ${v.name} ${v.status}  ${v.id}`, v)),
  hosts: (api: Api, scope: Scope, emit: Emit) =>
    api.subscribe(HostChanged, scope, ({ hostChanged: { cursor, host: h } }) => emit('hosts', cursor, `host       ${h.name} ${h.status} vms=${cell(h.vmCount)}  ${h.id}`, h)),
} satisfies Record<string, (api: Api, scope: Scope, emit: Emit) => Subscription>;

type Topic = keyof typeof TOPICS;
const TOPIC_NAMES = Object.keys(TOPICS).filter((name): name is Topic => name in TOPICS);

async function watch(context: CommandContext): Promise<void> {
  const topics = context.args.positionals.length ? context.args.positionals : TOPIC_NAMES;
  const unknown = topics.filter((topic) => !TOPIC_NAMES.some((name) => name === topic));
  if (unknown.length) throw new UsageError(`passthru watch follows ${TOPIC_NAMES.join(', ')}; not ${unknown.join(', ')}`);
  const api = context.api();
  const host = context.args.strings.host;
  // Read before subscribing and passed as `after`: nothing committed after this line is missed.
  const { changeCursor } = await api.request(ChangeCursor);
  const scope: Scope = { after: changeCursor, ...(host ? { hostId: await hostId(api, host) } : {}) };
  const emit: Emit = (topic, cursor, line, object) =>
    context.print(context.json ? json({ topic, cursor, [topic]: object }, false) : `${new Date().toISOString()}  ${line}`);
  const subscriptions = TOPIC_NAMES.filter((name) => topics.includes(name)).map((name) => TOPICS[name](api, scope, emit));
  context.note(`watching ${topics.join(', ')}${host ? ` on ${host}` : ''} from ${changeCursor} (Ctrl-C to stop)`);
  const stop = () => Promise.all(subscriptions.map((s) => s.stop()));
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  try {
    await Promise.race([interrupted, ...subscriptions.map((s) => s.ended)]);
  } finally {
    await stop();
    await api.close();
  }
}

export const watchCommands: CommandSpec[] = [
  {
    name: 'watch',
    usage: `[${TOPIC_NAMES.join('|')}]...`,
    summary: 'Print changes as they are committed, live over graphql-ws (all topics unless named).',
    options: ['host'],
    words: TOPIC_NAMES,
    run: watch,
  },
];
