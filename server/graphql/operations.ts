import { builder, FOR_AGENTS } from './builder.ts';
import { idOf } from './ids.ts';
import { AFTER_DESCRIPTION, CURSOR_DESCRIPTION, changeOf, formatCursor, hostAndVmScope } from './changes.ts';
import type { LiveEvent } from '../live/events.ts';
import { completeOperation, markOperationRunning, queuePositionOf, unfinishedOperations } from '../domain/operations.ts';
import { NotFoundError, OperationFinishedError, ValidationError } from '../domain/errors.ts';
import { operationStatus, operationType } from '../db/schema/enums.ts';

export const OperationTypeEnum = builder.enumType('OperationType', {
  description: 'What an operation asks the host agent to do.',
  values: {
    DETACH: { description: 'Bind devices to vfio-pci (into the pool).' },
    ATTACH: { description: 'Give devices back to their host driver.' },
    ASSIGN: { description: 'Hot-plug a pooled device into a VM.' },
    RELEASE: { description: 'Hot-unplug a device from a VM back into the pool.' },
    PROVISION: { description: 'Define and start a VM with its plan GPUs.' },
    TEARDOWN: { description: 'Destroy a VM; its devices return to the pool.' },
    START_VM: { description: 'Power a VM on.' },
    STOP_VM: { description: 'Power a VM off.' },
  } satisfies Record<(typeof operationType.enumValues)[number], unknown>,
});

export const OperationStatusEnum = builder.enumType('OperationStatus', {
  description: 'Progress of an operation.',
  values: {
    PENDING: { description: 'Queued; the agent has not picked it up.' },
    RUNNING: { description: 'The agent is carrying it out.' },
    SUCCEEDED: { description: 'Done.' },
    FAILED: { description: 'Failed or timed out; its devices returned to where they were.' },
  } satisfies Record<(typeof operationStatus.enumValues)[number], unknown>,
});

export const Operation = builder.drizzleNode('operations', {
  name: 'Operation',
  description: 'A durable unit of work for a host agent, and the audit record of a change.',
  id: { column: (o) => o.id },
  select: {},
  fields: (t) => ({
    type: t.expose('type', { type: OperationTypeEnum, description: 'What it does.' }),
    status: t.expose('status', { type: OperationStatusEnum, description: 'How far it got.' }),
    actor: t.exposeString('actor', { description: 'Who asked for it.' }),
    error: t.exposeString('error', { nullable: true, description: 'Why it failed.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was queued.' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true, description: 'When the agent picked it up.' }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true, description: 'When it ended.' }),
    deadlineAt: t.expose('deadlineAt', { type: 'DateTime', description: 'When it fails if still unfinished.' }),
    durationMs: t.int({
      nullable: true,
      description: 'Milliseconds from queueing to the end; null while unfinished.',
      select: { columns: { createdAt: true, finishedAt: true } },
      resolve: (o) => (o.finishedAt ? o.finishedAt.getTime() - o.createdAt.getTime() : null),
    }),
    queuePosition: t.int({
      nullable: true,
      description: "While PENDING, its place in its host's queue (1: next for the agent to pick up); null once picked up.",
      select: { extras: { queuePosition: queuePositionOf } },
      resolve: (o) => o.queuePosition,
    }),
    host: t.relation('host', { description: 'The host whose agent carries it out.' }),
    vm: t.relation('vm', { nullable: true, description: 'The VM it concerns, if any.' }),
    devices: t.relatedConnection('devices', { description: 'The devices it moves.', query: { orderBy: { address: 'asc' } } }),
  }),
});

const OperationFilter = builder.inputType('OperationFilter', {
  description: 'Narrow the operations list; all given conditions must hold.',
  fields: (t) => ({
    hostId: t.id({ required: false, description: 'Only operations of this host.' }),
    deviceId: t.id({ required: false, description: 'Only operations moving this device.' }),
    vmId: t.id({ required: false, description: 'Only operations concerning this VM.' }),
    status: t.field({ type: [OperationStatusEnum], required: false, description: 'Only these statuses.' }),
  }),
});

builder.queryFields((t) => ({
  operations: t.drizzleConnection({
    type: 'operations',
    description: 'Operations, newest first.',
    args: { filter: t.arg({ type: OperationFilter, required: false, description: 'Conditions.' }) },
    resolve: (query, _root, { filter }, ctx) =>
      ctx.db.query.operations.findMany(
        query({
          where: {
            ...(filter?.hostId ? { hostId: idOf('Host', String(filter.hostId)) } : {}),
            ...(filter?.vmId ? { vmId: idOf('VM', String(filter.vmId)) } : {}),
            ...(filter?.deviceId ? { devices: { id: idOf('Device', String(filter.deviceId)) } } : {}),
            ...(filter?.status?.length ? { status: { in: filter.status } } : {}),
          },
          orderBy: { createdAt: 'desc' },
        }),
      ),
  }),
}));

const ObservedDeviceInput = builder.inputType('ObservedDeviceInput', {
  description: 'One device an operation moved, as the agent sees it once the operation has ended.',
  fields: (t) => ({
    address: t.string({ required: true, description: 'PCI address or USB port path, as in the inventory.' }),
    driver: t.string({ required: false, description: 'Kernel driver bound now (vfio-pci when pooled); null when unbound.' }),
    present: t.boolean({ required: true, description: 'Whether the device is still in the host.' }),
  }),
});

builder.mutationFields((t) => ({
  startOperation: t.withAuth({ agent: true }).fieldWithInput({
    type: Operation,
    description: 'Agent: I have picked this operation up (PENDING -> RUNNING).',
    input: { operationId: t.input.id({ required: true, description: 'Global ID of the operation.' }) },
    ...FOR_AGENTS,
    errors: { types: [NotFoundError, OperationFinishedError] },
    resolve: (_root, { input }, ctx) =>
      markOperationRunning(ctx, ctx.principal.host.id, idOf('Operation', String(input.operationId))),
  }),
  completeOperation: t.withAuth({ agent: true }).fieldWithInput({
    type: Operation,
    description: "Agent: how one of this host's operations ended. Devices complete or revert accordingly.",
    input: {
      operationId: t.input.id({ required: true, description: 'Global ID of the operation.' }),
      succeeded: t.input.boolean({ required: true, description: 'Whether the host did what was asked.' }),
      error: t.input.string({ required: false, description: 'What went wrong, for operators (at most 4000 characters kept).' }),
      devices: t.input.field({
        type: [ObservedDeviceInput],
        required: false,
        description:
          "What the agent now sees of the operation's devices (driver, presence). The host's view wins, as in an inventory report, so no report needs to follow the operation.",
      }),
    },
    ...FOR_AGENTS,
    errors: { types: [NotFoundError, OperationFinishedError, ValidationError] },
    resolve: async (_root, { input }, ctx) => {
      const finished = await completeOperation(ctx, ctx.principal.host.id, idOf('Operation', String(input.operationId)), {
        succeeded: input.succeeded,
        error: input.error ?? null,
        devices: input.devices?.map((seen) => ({ address: seen.address, driver: seen.driver ?? null, present: seen.present })) ?? null,
      });
      ctx.metrics.operationFinished(finished);
      return finished;
    },
  }),
}));

const OperationChange = builder.objectRef<LiveEvent<'operation:changed'>>('OperationChange').implement({
  description: 'An operation as it is after a committed change.',
  fields: (t) => ({
    cursor: t.string({ description: CURSOR_DESCRIPTION, resolve: (change) => formatCursor(change.seq) }),
    operation: t.field({ type: Operation, description: 'The operation now.', resolve: (change) => change.row }),
  }),
});

builder.subscriptionFields((t) => ({
  operationChanged: t.field({
    type: OperationChange,
    description: 'An operation was queued, started or finished.',
    args: {
      hostId: t.arg.id({ required: false, description: 'Only operations of this host.' }),
      vmId: t.arg.id({ required: false, description: 'Only operations concerning this VM.' }),
      after: t.arg.string({ required: false, description: AFTER_DESCRIPTION }),
    },
    subscribe: (_root, args, ctx) => ctx.live.watch({ topic: 'operation:changed', ...hostAndVmScope(args), after: args.after }),
    resolve: changeOf,
  }),
  agentOperations: t.withAuth({ agent: true }).field({
    type: Operation,
    description:
      "Agent: this host's operations to carry out. On subscribe it first replays every unfinished one (oldest first), then streams new ones.",
    ...FOR_AGENTS,
    subscribe: async function* (_root, _args, ctx) {
      const { host } = ctx.principal;
      // Start listening before reading the backlog, so an operation queued in between is not lost.
      const live = ctx.live.watch({ topic: 'operation:changed', scope: `host:${host.id}`, keep: (change) => change.status === 'PENDING' });
      let next = live.next();
      const delivered = new Set<string>();
      try {
        for (const operation of await unfinishedOperations(ctx.db, host.id)) {
          delivered.add(operation.id);
          yield operation;
        }
        for (;;) {
          const result = await next;
          if (result.done) return;
          next = live.next();
          const change = changeOf(result.value);
          if (delivered.has(change.row.id)) continue;
          delivered.add(change.row.id);
          yield change.row;
        }
      } finally {
        await live.return?.();
      }
    },
    resolve: (operation) => operation,
  }),
}));
