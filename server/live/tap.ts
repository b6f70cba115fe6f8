import type { Topic } from '../pubsub.ts';
import { entityKey } from './events.ts';
import type { LiveItem, LiveSource, Watch } from './hub.ts';

/** Which change the result being executed is about: graphql-js executes one source item at a time, in order. */
export interface TappedItem {
  key: string;
  seq: number;
}

/**
 * The hub as an execution's subscription fields see it, noting each item they take, so the
 * execution's results can be queued by entity and sequence without parsing them.
 */
export class Tap {
  /** The item behind the result being executed; null for a stream's last, failing item. */
  current: TappedItem | null = null;
  readonly source: LiveSource;

  constructor(hub: LiveSource, adjust: <T extends Topic>(watch: Watch<T>) => Watch<T> = (watch) => watch) {
    this.source = {
      watch: <T extends Topic>(watch: Watch<T>) => {
        const stream = hub.watch(adjust(watch));
        const tapped: AsyncIterableIterator<LiveItem<T>> = {
          next: async () => {
            const result = await stream.next();
            if (!result.done) this.current = 'failure' in result.value ? null : { key: entityKey(result.value), seq: result.value.seq };
            return result;
          },
          return: async () => (await stream.return?.()) ?? { done: true, value: undefined },
          [Symbol.asyncIterator]: () => tapped,
        };
        return tapped;
      },
    };
  }
}
