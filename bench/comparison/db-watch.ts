// What the write benchmark waits for, seen from the database itself: a trigger of the bench's
// own NOTIFYs every VM and device status change, so clients learn that an agent acknowledged
// without polling the server under test.
import type { BenchDatabase } from '../support/database.ts';
import { ownQuery } from '../support/database.ts';

type Waiter = { statuses: string[]; done: (status: string) => void };

export class StatusWatch {
  private readonly latest = new Map<string, string>();
  private readonly waiters = new Map<string, Waiter>();

  seen(key: string, status: string) {
    this.latest.set(key, status);
    const waiter = this.waiters.get(key);
    if (waiter?.statuses.includes(status)) {
      this.waiters.delete(key);
      waiter.done(status);
    }
  }

  /** Resolves with the first of `statuses` the key reaches (or already has), or 'TIMEOUT'. */
  until(key: string, statuses: string[], timeoutMs: number): Promise<string> {
    const now = this.latest.get(key);
    if (now !== undefined && statuses.includes(now)) return Promise.resolve(now);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        resolve('TIMEOUT');
      }, timeoutMs);
      this.waiters.set(key, {
        statuses,
        done: (status) => {
          clearTimeout(timer);
          resolve(status);
        },
      });
    });
  }

  forget(key: string) {
    this.latest.delete(key);
  }
}

/** VMs by name (the bench names them), devices by ID. */
export async function watchStatuses(database: BenchDatabase): Promise<{ vms: StatusWatch; devices: StatusWatch }> {
  const vms = new StatusWatch();
  const devices = new StatusWatch();
  await ownQuery(database, (sql) => sql`
    create function bench_vm_status() returns trigger language plpgsql as $$
    begin perform pg_notify('bench_vm', new.name || ' ' || new.status); return null; end $$`);
  await ownQuery(database, (sql) => sql`
    create trigger bench_vm_status after insert or update of status on vms for each row execute function bench_vm_status()`);
  await ownQuery(database, (sql) => sql`
    create function bench_device_status() returns trigger language plpgsql as $$
    begin perform pg_notify('bench_device', new.id || ' ' || new.status); return null; end $$`);
  await ownQuery(database, (sql) => sql`
    create trigger bench_device_status after update of status on devices for each row
    when (old.status is distinct from new.status) execute function bench_device_status()`);
  database.ownTransactions += 2;
  const split = (payload: string): [string, string] => {
    const at = payload.lastIndexOf(' ');
    return [payload.slice(0, at), payload.slice(at + 1)];
  };
  await database.sql.listen('bench_vm', (payload) => vms.seen(...split(payload)));
  await database.sql.listen('bench_device', (payload) => devices.seen(...split(payload)));
  return { vms, devices };
}

/**
 * Devices ever held by two VMs at once, from their history: an event that hands a device to a
 * VM (ASSIGNING, ASSIGNED, RELEASING name a VM) while its previous event left it with another.
 * Also the events whose "from" status is not where the previous event left the device, which
 * a lost update between two writers would leave behind.
 */
export async function doubleAssignments(database: BenchDatabase): Promise<{ doubles: number; brokenChains: number; events: number }> {
  const [row] = await ownQuery(database, (sql) => sql<{ doubles: number; broken: number; events: number }[]>`
    with history as (
      select to_status, from_status, vm_id,
             lag(to_status) over w as previous_status, lag(vm_id) over w as previous_vm
      from device_events window w as (partition by device_id order by id))
    select
      (count(*) filter (where to_status in ('ASSIGNING', 'ASSIGNED', 'RELEASING')
                          and previous_status in ('ASSIGNING', 'ASSIGNED', 'RELEASING')
                          and previous_vm is distinct from vm_id))::int as doubles,
      (count(*) filter (where previous_status is not null and from_status is distinct from previous_status))::int as broken,
      count(*)::int as events
    from history`);
  return { doubles: row?.doubles ?? Number.NaN, brokenChains: row?.broken ?? Number.NaN, events: row?.events ?? 0 };
}
