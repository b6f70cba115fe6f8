import { inArray } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { auditLog, devices, hosts, operations, servicePlans, vms } from '../db/schema/index.ts';
import type { ChangeMessage, Topic, Topics } from '../pubsub.ts';
import type { LoggedChange } from './change-log.ts';

/** The current row each topic's change is about; null when it has been deleted (or has no row). */
export type TopicRows = {
  'device:changed': typeof devices.$inferSelect;
  'host:changed': typeof hosts.$inferSelect;
  'vm:changed': typeof vms.$inferSelect;
  'operation:changed': typeof operations.$inferSelect;
  'plan:changed': typeof servicePlans.$inferSelect | null;
  'audit:logged': typeof auditLog.$inferSelect;
  'credential:revoked': null;
};

/** A committed change with its log sequence and the row as it is now, loaded once per process and batch. */
export interface LiveEvent<T extends Topic> {
  seq: number;
  topic: T;
  payload: Topics[T];
  row: TopicRows[T];
}
/** A live event of any topic, discriminated by `topic`. */
export type AnyLiveEvent = { [K in Topic]: LiveEvent<K> }[Topic];

export function isTopic<T extends Topic>(event: AnyLiveEvent | LiveEvent<T>, topic: T): event is LiveEvent<T> {
  return event.topic === topic;
}

export function isMessageOf<T extends Topic>(message: { topic: Topic; payload: unknown }, topic: T): message is { topic: T; payload: Topics[T] } {
  return message.topic === topic;
}

/** What a subscriber coalesces by: later changes of one entity replace earlier undelivered ones. */
export function entityKey(message: { topic: string; payload: { id: string | number } }): string {
  return `${message.topic}/${message.payload.id}`;
}

/** The scopes a change is announced under, so a subscriber filtered by host or VM is woken only for its own. */
export function scopesOf(message: ChangeMessage): string[] {
  switch (message.topic) {
    case 'device:changed':
      return [`host:${message.payload.hostId}`, ...message.payload.vmIds.map((id) => `vm:${id}`)];
    case 'vm:changed':
      return [`host:${message.payload.hostId}`, `vm:${message.payload.id}`];
    case 'operation:changed':
      return [`host:${message.payload.hostId}`, ...(message.payload.vmId ? [`vm:${message.payload.vmId}`] : [])];
    case 'host:changed':
      return [`host:${message.payload.id}`];
    default:
      return [];
  }
}

function idsOf(changes: readonly LoggedChange[], topic: Topic): string[] {
  return [...new Set(changes.filter((change) => change.message.topic === topic).map((change) => String(change.message.payload.id)))];
}

async function rowsById<R extends { id: string | number }>(ids: string[], load: (ids: string[]) => Promise<R[]>): Promise<Map<string, R>> {
  if (ids.length === 0) return new Map();
  return new Map((await load(ids)).map((row) => [String(row.id), row]));
}

/**
 * Loads the rows a batch of changes names: one statement per table, whatever the number of
 * subscribers. Changes whose entity has gone are dropped, except plan deletions, which are news.
 */
export async function loadEvents(db: Queryable, changes: readonly LoggedChange[]): Promise<AnyLiveEvent[]> {
  const [deviceRows, hostRows, vmRows, operationRows, planRows, auditRows] = await Promise.all([
    rowsById(idsOf(changes, 'device:changed'), (ids) => db.select().from(devices).where(inArray(devices.id, ids))),
    rowsById(idsOf(changes, 'host:changed'), (ids) => db.select().from(hosts).where(inArray(hosts.id, ids))),
    rowsById(idsOf(changes, 'vm:changed'), (ids) => db.select().from(vms).where(inArray(vms.id, ids))),
    rowsById(idsOf(changes, 'operation:changed'), (ids) => db.select().from(operations).where(inArray(operations.id, ids))),
    rowsById(idsOf(changes, 'plan:changed'), (ids) => db.select().from(servicePlans).where(inArray(servicePlans.id, ids))),
    rowsById(idsOf(changes, 'audit:logged'), (ids) => db.select().from(auditLog).where(inArray(auditLog.id, ids.map(Number)))),
  ]);
  const events: AnyLiveEvent[] = [];
  for (const { seq, message } of changes) {
    const id = String(message.payload.id);
    switch (message.topic) {
      case 'device:changed': {
        const row = deviceRows.get(id);
        if (row) events.push({ seq, topic: message.topic, payload: message.payload, row });
        break;
      }
      case 'host:changed': {
        const row = hostRows.get(id);
        if (row) events.push({ seq, topic: message.topic, payload: message.payload, row });
        break;
      }
      case 'vm:changed': {
        const row = vmRows.get(id);
        if (row) events.push({ seq, topic: message.topic, payload: message.payload, row });
        break;
      }
      case 'operation:changed': {
        const row = operationRows.get(id);
        if (row) events.push({ seq, topic: message.topic, payload: message.payload, row });
        break;
      }
      case 'audit:logged': {
        const row = auditRows.get(id);
        if (row) events.push({ seq, topic: message.topic, payload: message.payload, row });
        break;
      }
      case 'plan:changed':
        events.push({ seq, topic: message.topic, payload: message.payload, row: planRows.get(id) ?? null });
        break;
      case 'credential:revoked':
        events.push({ seq, topic: message.topic, payload: message.payload, row: null });
        break;
    }
  }
  return events;
}
