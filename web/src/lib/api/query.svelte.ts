import { untrack } from 'svelte';
import { stringifyVariables, type AnyVariables, type TypedDocumentNode } from '@urql/core';
import { api } from './client.ts';
import { connection } from './connection.svelte.ts';
import { live, type LiveEvent, type Topic } from './live.ts';

export interface LiveQueryOptions<V> {
  /** Read inside an effect: the query re-runs when what it reads changes. */
  variables?: () => V;
  /** Changes that make this query refetch (debounced). */
  topics?: Topic[];
  /** Narrows the events of `topics` further (e.g. only this host's devices). */
  when?: (event: LiveEvent) => boolean;
  /** While true, nothing is fetched. */
  pause?: () => boolean;
  /** Also refetch this often while the tab is visible: for data no subscription announces. */
  pollMs?: number;
  /** Keep showing the last data while other variables load (paging, forms), instead of a skeleton. */
  keepData?: boolean;
}

// Bursts of changes (a provision moves several GPUs, each a few events) cost one refetch.
const DEBOUNCE_MS = 80;

/**
 * A query that stays true: it loads once, refetches when a relevant subscription event arrives,
 * and again after the realtime link comes back. Data is kept while refetching so pages never
 * flash a skeleton for an update; it is dropped only when the variables name something else.
 * Create it while a component initialises (it owns effects).
 */
export class LiveQuery<D, V extends AnyVariables = AnyVariables> {
  data = $state.raw<D | undefined>(undefined);
  error = $state.raw<string | null>(null);
  fetching = $state(false);
  #doc: TypedDocumentNode<D, V>;
  #keepData: boolean;
  #vars: V = {} as V;
  #key = '';
  #timer: ReturnType<typeof setTimeout> | undefined;
  #seq = 0;
  #applied = 0;

  constructor(doc: TypedDocumentNode<D, V>, options: LiveQueryOptions<V> = {}) {
    this.#doc = doc;
    this.#keepData = options.keepData ?? false;
    $effect(() => {
      const vars = options.variables?.() ?? ({} as V);
      const paused = options.pause?.() ?? false;
      if (paused) return;
      untrack(() => this.#load(vars));
    });
    $effect(() => {
      const every = options.pollMs;
      if (!every) return;
      const timer = setInterval(() => {
        if (document.visibilityState === 'visible' && !options.pause?.()) this.refetch();
      }, every);
      return () => clearInterval(timer);
    });
    $effect(() => {
      if (connection.generation === 0) return;
      untrack(() => this.refetch());
    });
    $effect(() => {
      const topics = options.topics ?? [];
      if (topics.length === 0) return;
      const off = live.on((event) => {
        if (!topics.includes(event.topic)) return;
        if (options.when && !options.when(event)) return;
        if (options.pause?.()) return;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => this.refetch(), DEBOUNCE_MS);
      });
      return () => {
        off();
        clearTimeout(this.#timer);
      };
    });
  }

  /** True until the first result for the current variables has arrived. */
  get loading() {
    return this.data === undefined && this.error === null;
  }

  #load(vars: V) {
    const key = stringifyVariables(vars);
    if (key !== this.#key && !this.#keepData) {
      this.data = undefined;
      this.error = null;
    }
    this.#vars = vars;
    this.#key = key;
    void this.#fetch('cache-only');
    // Whatever the cache had, ask the server too: the cache cannot know about other browsers.
    void this.#fetch('network-only');
  }

  /** Fetches the current variables from the server again. */
  refetch() {
    if (!this.#key && this.data === undefined) return;
    void this.#fetch('network-only');
  }

  async #fetch(policy: 'cache-only' | 'network-only') {
    const seq = ++this.#seq;
    const key = this.#key;
    if (policy === 'network-only') this.fetching = true;
    const result = await api().client.query(this.#doc, this.#vars, { requestPolicy: policy }).toPromise();
    if (seq === this.#seq) this.fetching = false;
    // Another question is being asked now, or a newer answer is already shown.
    if (key !== this.#key || seq <= this.#applied) return;
    if (result.data) {
      this.#applied = seq;
      this.data = result.data;
      this.error = null;
    } else if (result.error) {
      this.error = result.error.networkError ? 'The server cannot be reached.' : result.error.graphQLErrors.map((e) => e.message).join('; ');
    }
  }
}
