import type { UpdateResolver, Variables } from '@urql/exchange-graphcache';
import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';
import { placeInConnections, stringArg, stringField } from '../api/cache-lists.ts';

/** Every recorded call (by one actor, if given), with what the audit trail shows. */
export const AuditEvents = graphql(`
  subscription AuditEvents($actor: String, $after: String) {
    auditLogged(actor: $actor, after: $after) { cursor entry { id at actor action targets outcome details } }
  }
`);

type AuditEntry = ResultOf<typeof AuditEvents>['auditLogged']['entry'];

/** Whether an entry passes the arguments an `auditLog(...)` page was read with. */
export function matchesAuditArgs(entry: AuditEntry, args: Variables | null): boolean {
  const actor = stringArg(args, 'actor');
  const target = stringArg(args, 'target');
  const since = stringArg(args, 'since');
  const until = stringArg(args, 'until');
  const at = Date.parse(entry.at);
  return (
    (actor === null || actor === entry.actor) &&
    (target === null || entry.targets.includes(target)) &&
    (since === null || at >= Date.parse(since)) &&
    (until === null || at < Date.parse(until))
  );
}

/** A new entry goes to the top (newest first) of every audit page it matches. */
export const auditLogged: UpdateResolver<ResultOf<typeof AuditEvents>> = ({ auditLogged: { entry } }, _args, cache) => {
  const key = cache.keyOfEntity({ __typename: 'AuditEntry', id: entry.id });
  if (!key) return;
  placeInConnections(cache, 'Query', 'auditLog', key, (args) => matchesAuditArgs(entry, args), (other) => Date.parse(entry.at) > Date.parse(stringField(cache, other, 'at')));
};
