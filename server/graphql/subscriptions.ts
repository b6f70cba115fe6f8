import { filter, pipe } from 'graphql-yoga';
import type { Context } from '../context.ts';
import type { Topics } from '../pubsub.ts';

/** Events of one topic that pass `keep`, as an async iterable for a subscription field. */
export function changesOf<T extends keyof Topics>(ctx: Context, topic: T, keep: (event: Topics[T][0]) => boolean) {
  const subscribe = ctx.pubsub.subscribe as (topic: T) => AsyncIterable<Topics[T][0]>;
  return pipe(subscribe(topic), filter(keep));
}
