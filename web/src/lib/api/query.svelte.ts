import { untrack } from 'svelte';
import { stringifyVariables, type AnyVariables, type OperationResult, type TypedDocumentNode } from '@urql/core';
import { api } from './client.ts';
import { onReread } from './reread.ts';

export interface LiveQueryOptions<V> {
  /** Read inside an effect: the query re-runs when what it reads changes. */
  variables?: () => V;
  /** While true, nothing is fetched. */
  pause?: () => boolean;
  /** Also refetch this often while the tab is visible: for data no subscription announces. */
  pollMs?: number;
  /** Keep showing the last data while other variables load (paging, forms), instead of a skeleton. */
  keepData?: boolean;
}

/**
 * A query that stays true. It watches the normalized cache, so whatever updates an entity it
 * shows (a subscription event, a mutation's payload, another page's query) updates it in place,
 * and the subscription updaters add and remove list items; it asks the server when it opens, and
 * again only for what the cache has dropped (counts the server computes) or after the realtime link
 * lost changes for good (reread.ts). Data is kept while refetching so pages never flash a skeleton
 * for an update; it is dropped only when the variables name something else. Create it while a
 * component initialises (it owns effects).
 */
export class LiveQuery<D, V extends AnyVariables = AnyVariables> {
  data = $state.raw<D | undefined>(undefined);
  error = $state.raw<string | null>(null);
  fetching = $state(false);
  #doc: TypedDocumentNode<D, V>;
  #keepData: boolean;
  /** The variables being watched; null while paused. */
  #vars: V | null = null;
  #key = '';

  constructor(doc: TypedDocumentNode<D, V>, options: LiveQueryOptions<V> = {}) {
    this.#doc = doc;
    this.#keepData = options.keepData ?? false;
    $effect(() => {
      const vars = options.variables?.() ?? ({} as V);
      if (options.pause?.()) return;
      return untrack(() => this.#watch(vars));
    });
    $effect(() => {
      const every = options.pollMs;
      if (!every) return;
      const timer = setInterval(() => {
        if (document.visibilityState === 'visible') this.refetch();
      }, every);
      return () => clearInterval(timer);
    });
    $effect(() => onReread(() => this.refetch()));
  }

  /** True until the first result for the current variables has arrived. */
  get loading() {
    return this.data === undefined && this.error === null;
  }

  #watch(vars: V) {
    const key = stringifyVariables(vars);
    if (key !== this.#key && !this.#keepData) {
      this.data = undefined;
      this.error = null;
    }
    this.#vars = vars;
    this.#key = key;
    this.fetching = true;
    // Cached data at once if there is any, the server's answer after it, then every cache update.
    const subscription = api()
      .client.query(this.#doc, vars, { requestPolicy: 'cache-and-network' })
      .subscribe((result) => this.#apply(result));
    return () => {
      subscription.unsubscribe();
      this.#vars = null;
    };
  }

  #apply(result: OperationResult<D, V>) {
    this.fetching = result.stale;
    if (result.data) {
      this.data = result.data;
      this.error = null;
    } else if (result.error) {
      this.error = result.error.networkError ? 'The server cannot be reached.' : result.error.graphQLErrors.map((e) => e.message).join('; ');
    }
  }

  /** Asks the server again for the current variables; the answer reaches `data` through the cache. */
  refetch() {
    if (this.#vars === null) return;
    this.fetching = true;
    void api().client.query(this.#doc, this.#vars, { requestPolicy: 'network-only' }).toPromise();
  }
}
