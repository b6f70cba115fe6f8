import {
  AGENT_OPERATIONS,
  HEARTBEAT,
  REPORT_INVENTORY,
  type AgentOperation,
  type HostFacts,
  type ReportedDevice,
  type ReportedVm,
} from '../../protocol/agent.ts';
import { graphql } from '../../protocol/graphql.ts';
import { TestClient } from './client.ts';

/** A device as a TestAgent reports it: the fields a test leaves out are reported as unknown (null). */
export type FakeDevice = ReportedDevice;

/** An operation as a TestAgent received it, the page of its devices flattened. */
export type ReceivedOperation = Omit<AgentOperation, 'devices'> & { devices: AgentOperation['devices']['nodes'] };

/**
 * The agent's completeOperation (protocol/agent.ts), asking also for the status the operation
 * ended with, which tests check; the real agent asks for nothing it does not use.
 */
const COMPLETE_OPERATION = graphql(`
  mutation TestCompleteOperation($input: CompleteOperationInput!) {
    completeOperation(input: $input) { __typename ... on Operation { status } ... on Error { message } }
  }
`);

/**
 * Plays a host agent over the public API with the host's token: reports inventory,
 * heartbeats, and receives operations on the agentOperations subscription. Each operation is
 * answered by `respond` (succeed by default), or held for the test to answer by hand.
 */
export class TestAgent {
  readonly client: TestClient;
  readonly received: ReceivedOperation[] = [];
  /** Answers that could not be delivered. */
  readonly errors: unknown[] = [];
  devices: FakeDevice[];
  /** The host-wide facts it reports. */
  facts: HostFacts = { cpuCores: 64, memoryMb: 512 * 1024, iommuEnabled: true };
  /** The host's domains, reported when set (null: the agent says nothing about them). */
  vms: ReportedVm[] | null = null;
  respond: ((operation: ReceivedOperation) => { succeeded: boolean; error?: string } | 'hold') | null = () => ({ succeeded: true });
  private subscription: ReturnType<TestClient['subscribe']> | null = null;
  private pump: Promise<void> | null = null;

  constructor(url: string, token: string, devices: FakeDevice[]) {
    this.client = new TestClient(url, token);
    this.devices = devices;
  }

  async reportInventory() {
    const { reportInventory } = await this.client.data(REPORT_INVENTORY, { input: { facts: this.facts, devices: this.devices, ...(this.vms ? { vms: this.vms } : {}) } });
    if (reportInventory.__typename !== 'Host') throw new Error(reportInventory.message);
  }

  async heartbeat() {
    return this.client.data(HEARTBEAT);
  }

  /** Connects the operation stream and answers operations as they come. */
  async connect() {
    const subscription = this.client.subscribe(AGENT_OPERATIONS);
    this.subscription = subscription;
    let handled = 0;
    this.pump = (async () => {
      while (this.subscription === subscription) {
        try {
          await subscription.next(() => subscription.events.length > handled, 60_000);
        } catch {
          return;
        }
        while (handled < subscription.events.length) {
          const event = subscription.events[handled++]!;
          const delivered = event.data?.agentOperations;
          if (!delivered) continue;
          const operation = { ...delivered, devices: delivered.devices.nodes };
          this.received.push(operation);
          const answer = this.respond?.(operation) ?? 'hold';
          // A server that went away mid-answer (a test stopping it) is not this agent's failure.
          if (answer !== 'hold') await this.complete(operation.id, answer.succeeded, answer.error).catch((error) => this.errors.push(error));
        }
      }
    })();
  }

  async complete(operationId: string, succeeded: boolean, error?: string) {
    return this.client.data(COMPLETE_OPERATION, { input: { operationId, succeeded, error } });
  }

  async disconnect() {
    this.subscription?.close();
    this.subscription = null;
    await this.client.close();
  }
}

/** One KVM host's worth of fake hardware: GPUs with their audio functions, USB, NVMe. */
export function fakeHardware(options: { gpus?: number; usb?: number; nvme?: number; numaNodes?: number; gpuModel?: [string, string] } = {}): FakeDevice[] {
  const devices: FakeDevice[] = [];
  const [vendorId, productId] = options.gpuModel ?? ['10de', '2204'];
  for (let i = 0; i < (options.gpus ?? 0); i++) {
    const bus = (0x41 + i).toString(16).padStart(2, '0');
    const numaNode = i % (options.numaNodes ?? 1);
    devices.push({ kind: 'GPU', address: `0000:${bus}:00.0`, vendorId, productId, productName: 'GA102 [GeForce RTX 3090]', vendorName: 'NVIDIA Corporation', iommuGroup: 40 + i, numaNode, driver: 'vfio-pci' });
  }
  for (let i = 0; i < (options.usb ?? 0); i++) {
    devices.push({ kind: 'USB', address: `1-${i + 1}`, vendorId: '046d', productId: 'c31c', productName: 'Keyboard K120', serial: `USB${i}`, driver: 'usb' });
  }
  for (let i = 0; i < (options.nvme ?? 0); i++) {
    devices.push({ kind: 'NVME', address: `0000:0${i + 1}:00.0`, vendorId: '144d', productId: 'a80a', productName: 'NVMe SSD Controller PM9A1/PM9A3/980PRO', serial: `S5GXNF0R${i}`, iommuGroup: 10 + i, numaNode: 0, driver: 'nvme' });
  }
  return devices;
}
