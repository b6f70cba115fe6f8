import { encodeGlobalID } from '@pothos/plugin-relay';
import type { Plugin } from 'graphql-yoga';
import { defaultFieldResolver, getNamedType, isSchema, isObjectType, isUnionType, type GraphQLResolveInfo } from 'graphql';
import { builder } from './builder.ts';
import { AFTER_DESCRIPTION, CURSOR_DESCRIPTION, changeOf, formatCursor } from './changes.ts';
import type { LiveEvent } from '../live/events.ts';
import { recordAudit } from '../domain/audit.ts';
import { isDomainError } from '../domain/errors.ts';
import type { Context } from '../context.ts';
import type { Logger } from '../logger.ts';

export const AuditEntry = builder.drizzleNode('auditLog', {
  name: 'AuditEntry',
  description: 'One state-changing call, allowed or refused.',
  id: { column: (a) => a.id },
  select: {},
  fields: (t) => ({
    at: t.expose('at', { type: 'DateTime', description: 'When.' }),
    actor: t.exposeString('actor', { description: 'Who: user:NAME, token:OWNER/TOKEN, agent:HOST or anonymous.' }),
    action: t.exposeString('action', { description: 'The mutation called.' }),
    targets: t.exposeStringList('targets', { description: 'Global IDs of the objects it named or changed.' }),
    outcome: t.exposeString('outcome', { description: '"OK", or the typename of the error it was refused with.' }),
    details: t.string({
      description: 'The call’s input as JSON, secrets redacted.',
      select: { columns: { details: true } },
      resolve: (a) => JSON.stringify(a.details),
    }),
  }),
});

builder.queryFields((t) => ({
  auditLog: t.drizzleConnection({
    type: 'auditLog',
    description: 'The audit trail, newest first.',
    args: {
      actor: t.arg.string({ required: false, description: 'Only calls by this actor (exact, e.g. "user:alice").' }),
      target: t.arg.id({ required: false, description: 'Only calls that named or changed this object.' }),
      since: t.arg({ type: 'DateTime', required: false, description: 'Only calls at or after this time.' }),
      until: t.arg({ type: 'DateTime', required: false, description: 'Only calls before this time.' }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.db.query.auditLog.findMany(
        query({
          where: {
            ...(args.actor ? { actor: args.actor } : {}),
            ...(args.target ? { targets: { arrayContains: [String(args.target)] } } : {}),
            ...(args.since || args.until
              ? { at: { ...(args.since ? { gte: args.since } : {}), ...(args.until ? { lt: args.until } : {}) } }
              : {}),
          },
          orderBy: { id: 'desc' },
        }),
      ),
  }),
}));

const AuditChange = builder.objectRef<LiveEvent<'audit:logged'>>('AuditChange').implement({
  description: 'A newly recorded audit entry.',
  fields: (t) => ({
    cursor: t.string({ description: CURSOR_DESCRIPTION, resolve: (change) => formatCursor(change.seq) }),
    entry: t.field({ type: AuditEntry, description: 'The entry.', resolve: (change) => change.row }),
  }),
});

builder.subscriptionFields((t) => ({
  auditLogged: t.field({
    type: AuditChange,
    description: 'A state-changing call was recorded.',
    args: {
      actor: t.arg.string({ required: false, description: 'Only calls by this actor.' }),
      after: t.arg.string({ required: false, description: AFTER_DESCRIPTION }),
    },
    subscribe: (_root, args, ctx) =>
      ctx.live.watch({ topic: 'audit:logged', scope: null, keep: (entry) => !args.actor || entry.actor === args.actor, after: args.after }),
    resolve: changeOf,
  }),
}));

/** Expected refusals are DomainErrors (returned as union members); anything else with a stack was thrown by a bug. */
function outcomeOf(result: unknown): string {
  if (!result || typeof result !== 'object') return 'OK';
  if (isDomainError(result)) return result.constructor.name;
  if ('stack' in result && 'message' in result) return 'InternalError';
  return 'OK';
}

// Calls too frequent and too uneventful to be worth a row each. What an inventory report
// changes is in each device's own history (device_events), with the agent as actor.
const NOT_AUDITED = new Set(['heartbeat', 'reportInventory']);
// An agent's acknowledgements, two per operation: what they change is in the operation's own
// record (started, finished, error) and its devices' history, with the agent as actor. Only a
// refusal (another host's operation, a finished one) tells something new, and gets a row.
const AUDITED_WHEN_REFUSED = new Set(['startOperation', 'completeOperation']);

/** The node type a mutation returns on success, when it returns a node itself (a plan, a user...). */
function successNodeType(info: GraphQLResolveInfo): string | null {
  const type = getNamedType(info.returnType);
  const members = isUnionType(type) ? type.getTypes() : isObjectType(type) ? [type] : [];
  const nodes = members.filter((member) => member.getInterfaces().some((iface) => iface.name === 'Node'));
  return nodes.length === 1 ? nodes[0]!.name : null;
}

/** Global IDs a mutation's result names: the object it returned, or the objects it created or moved. */
function resultTargets(result: unknown, info: GraphQLResolveInfo): string[] {
  if (!result || typeof result !== 'object' || outcomeOf(result) !== 'OK') return [];
  const value = result as Record<string, unknown>;
  const ids: string[] = [];
  const returned = successNodeType(info);
  if (returned && typeof value.id === 'string') ids.push(encodeGlobalID(returned, value.id));
  const typed: [string, string][] = [['vm', 'VM'], ['operation', 'Operation'], ['host', 'Host'], ['apiToken', 'ApiToken'], ['user', 'User']];
  for (const [key, typename] of typed) {
    const id = (value[key] as { id?: string } | undefined)?.id;
    if (id) ids.push(encodeGlobalID(typename, id));
  }
  for (const device of (value.devices as { id: string }[] | undefined) ?? []) ids.push(encodeGlobalID('Device', device.id));
  return ids;
}

/** Global IDs the input named (every `...Id` field). */
function inputTargets(args: Record<string, unknown>): string[] {
  const input = (args.input ?? {}) as Record<string, unknown>;
  return Object.entries(input)
    .filter(([key, value]) => key.endsWith('Id') && typeof value === 'string')
    .map(([, value]) => value as string);
}

const AUDITED = Symbol('audited');

/**
 * Calls without credentials that were refused are counted, not recorded: anyone can send them,
 * as fast as they like, and each row would also go out to every audit subscriber. The count is
 * logged at most once a minute. Failed sign-ins stay in the trail: the sign-in limits bound them.
 */
function anonymousRefusals(logger: Logger) {
  let refused = 0;
  let reportedAt = 0;
  return () => {
    refused += 1;
    const now = Date.now();
    if (now - reportedAt < 60_000) return;
    logger.warn({ refused }, 'calls without credentials refused (counted, not written to the audit trail)');
    refused = 0;
    reportedAt = now;
  };
}

/**
 * Records every mutation — who, what, on what, and the outcome — after it resolves. Only the
 * Mutation type's fields are wrapped, once per schema: queries and nested fields run unwrapped.
 */
export function useAuditTrail(logger: Logger): Plugin<Context> {
  const countAnonymousRefusal = anonymousRefusals(logger);
  const record = async (context: Context, info: GraphQLResolveInfo, args: Record<string, unknown>, result: unknown) => {
    if (context.principal.kind === 'anonymous' && outcomeOf(result) !== 'OK' && info.fieldName !== 'signIn') {
      countAnonymousRefusal();
      return;
    }
    await recordAudit(context.db, {
      actor: context.actor,
      action: info.fieldName,
      targets: [...inputTargets(args), ...resultTargets(result, info)],
      outcome: outcomeOf(result),
      details: args,
    }).catch((error: unknown) => logger.error({ err: error, action: info.fieldName }, 'audit record failed'));
  };
  return {
    onSchemaChange({ schema }) {
      const mutation = isSchema(schema) ? schema.getMutationType() : null;
      for (const field of Object.values(mutation?.getFields() ?? {})) {
        if (NOT_AUDITED.has(field.name) || AUDITED in field.extensions) continue;
        const resolve = field.resolve ?? defaultFieldResolver;
        const refusalsOnly = AUDITED_WHEN_REFUSED.has(field.name);
        field.resolve = async (root, args: Record<string, unknown>, context: Context, info) => {
          try {
            const result = await resolve(root, args, context, info);
            if (!refusalsOnly || outcomeOf(result) !== 'OK') await record(context, info, args, result);
            return result;
          } catch (error) {
            await record(context, info, args, error);
            throw error;
          }
        };
        field.extensions = { ...field.extensions, [AUDITED]: true };
      }
    },
  };
}
