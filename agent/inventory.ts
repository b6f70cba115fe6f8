// What the agent tells the server unasked: a heartbeat on a timer, and the host's inventory
// (facts, devices, domains) on every connect, on a periodic resync and when devices come and go.

import { HEARTBEAT, REPORT_INVENTORY, type ReportedVm } from '../protocol/agent.ts';
import { verdictOf } from './answers.ts';
import type { AgentContext } from './context.ts';
import { errorMessage } from './errors.ts';
import { backoffDelay } from './retry.ts';

export class InventoryReporter {
  readonly #agent: AgentContext;
  readonly #heartbeatTimeoutMs: number;
  readonly #afterReport: () => void;
  #heartbeatInFlight = false;
  #failures = 0;

  /** `afterReport`: runs after each report the server took or refused (the operations subscribe then). */
  constructor(agent: AgentContext, options: { heartbeatTimeoutMs: number; afterReport: () => void }) {
    this.#agent = agent;
    this.#heartbeatTimeoutMs = options.heartbeatTimeoutMs;
    this.#afterReport = options.afterReport;
  }

  async heartbeat() {
    const { connection, log } = this.#agent;
    if (!connection.connected || this.#heartbeatInFlight || !this.#agent.running()) return;
    this.#heartbeatInFlight = true;
    try {
      const { heartbeat } = await connection.request(HEARTBEAT, {}, this.#heartbeatTimeoutMs);
      const verdict = verdictOf(heartbeat, 'host');
      if (verdict.kind === 'fatal') this.#agent.fatal(verdict.message);
      else log.debug('heartbeat');
    } catch (error) {
      log.warn({ err: errorMessage(error) }, 'heartbeat failed');
    } finally {
      this.#heartbeatInFlight = false;
    }
  }

  /** Queues a report, after `delayMs`. */
  queue(reason: string, delayMs = 0) {
    if (!this.#agent.running()) return;
    if (delayMs > 0) {
      this.#agent.later(delayMs, () => this.queue(reason));
      return;
    }
    // One waiting report is enough: it reads the host when it runs, not when it was queued.
    this.#agent.queue.push(() => this.#report(reason), { key: 'inventory' });
  }

  async #report(reason: string) {
    const { backend, connection, log } = this.#agent;
    // Not connected: the next `connected` queues a report of its own.
    if (!this.#agent.running() || !connection.connected) return;
    let facts, devices, vms;
    try {
      [facts, devices, vms] = await Promise.all([backend.facts(), backend.inventory(), this.#readVms()]);
    } catch (error) {
      const delayMs = backoffDelay(this.#failures++, this.#agent.backoff);
      log.error({ err: errorMessage(error), delayMs }, 'could not read the host inventory; trying again');
      this.queue(reason, delayMs);
      return;
    }
    try {
      const { reportInventory } = await connection.request(REPORT_INVENTORY, { input: { facts, devices, ...(vms ? { vms } : {}) } });
      const verdict = verdictOf(reportInventory, 'host');
      const counts = { devices: devices.length, vms: vms ? vms.length : null };
      if (verdict.kind === 'fatal') {
        this.#agent.fatal(verdict.message);
        return;
      }
      if (verdict.kind === 'accepted') {
        this.#failures = 0;
        log.info({ ...counts, reason }, 'inventory reported');
        this.#agent.events.emit('inventory', { ...counts, reason });
      } else {
        // The server refused this inventory (ValidationError): a bug on one side; resync retries.
        log.error({ err: verdict.message, type: verdict.type }, 'the server rejected the inventory');
      }
      // Operations come after the first report, so the server knows the devices they name.
      this.#afterReport();
    } catch (error) {
      const delayMs = backoffDelay(this.#failures++, this.#agent.backoff);
      log.warn({ err: errorMessage(error), reason, delayMs }, 'inventory report did not get through; trying again');
      this.queue(reason, delayMs);
    }
  }

  /**
   * The host's domains for the report; null (the server takes that as "unknown") when they
   * cannot be read, so a libvirt that is down does not hold back the device inventory.
   */
  async #readVms(): Promise<ReportedVm[] | null> {
    try {
      return await this.#agent.backend.vms();
    } catch (error) {
      this.#agent.log.warn({ err: errorMessage(error) }, 'could not list the host domains; reporting the inventory without them');
      return null;
    }
  }
}
