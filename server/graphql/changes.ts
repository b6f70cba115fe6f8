import type { LiveEvent } from '../live/events.ts';
import { changeLogHead } from '../live/change-log.ts';
import { formatCursor, type LiveItem } from '../live/hub.ts';
import type { Topic } from '../pubsub.ts';
import { builder } from './builder.ts';
import { idOf } from './ids.ts';

export { formatCursor };

export const CURSOR_DESCRIPTION = 'Where this change sits in the change log: pass it as `after` to resume from here.';
export const AFTER_DESCRIPTION =
  'Resume after this cursor: first the latest state of everything that changed since, then live changes. ' +
  'A cursor older than the retained change log ends the subscription with a CursorExpiredError: re-read, then subscribe without it.';

/** The change an item carries; the item that ends a stream (cursor expired, subscriber behind) becomes its error. */
export function changeOf<T extends Topic>(item: LiveItem<T>): LiveEvent<T> {
  if ('failure' in item) throw item.failure;
  return item;
}

/**
 * The scope a subscription filtered by host and/or VM watches (the narrower one: a VM's),
 * and the condition that also holds the host when both are given.
 */
export function hostAndVmScope(args: { hostId?: string | number | null; vmId?: string | number | null }) {
  const hostId = args.hostId ? idOf('Host', String(args.hostId)) : null;
  const vmId = args.vmId ? idOf('VM', String(args.vmId)) : null;
  return {
    scope: vmId ? `vm:${vmId}` : hostId ? `host:${hostId}` : null,
    keep: (change: { hostId: string }) => hostId === null || change.hostId === hostId,
  };
}

builder.queryField('changeCursor', (t) =>
  t.string({
    description:
      'The newest position in the change log. Read it before a list, then subscribe with `after:` it: nothing committed in between is missed (list, then watch).',
    resolve: async (_root, _args, ctx) => formatCursor(await changeLogHead(ctx.db)),
  }),
);
