import type { AnyVariables, TypedDocumentNode } from '@urql/core';
import { api } from './client.ts';

type Payload<D> = D[keyof D];
/** A mutation's success member(s): every union member that is not an Error. */
export type Success<D> = Exclude<Payload<D>, { message: string }>;

/** The message of an `... on Error { message }` member, or null for a success. */
export function errorMessage(payload: unknown): string | null {
  if (payload && typeof payload === 'object' && 'message' in payload && typeof payload.message === 'string') return payload.message;
  return null;
}

/**
 * One mutation behind one control. `error` holds the text of the typed error the server
 * answered with (or a transport failure) so the control can show it beside itself.
 */
export class Action<D, V extends AnyVariables> {
  pending = $state(false);
  error = $state<string | null>(null);
  #doc: TypedDocumentNode<D, V>;

  constructor(doc: TypedDocumentNode<D, V>) {
    this.#doc = doc;
  }

  reset() {
    this.error = null;
  }

  /** Runs the mutation; resolves with the success payload, or null after setting `error`. */
  async run(variables: V): Promise<Success<D> | null> {
    this.pending = true;
    this.error = null;
    try {
      const result = await api().client.mutation(this.#doc, variables).toPromise();
      if (result.error) {
        this.error = result.error.networkError ? 'The server cannot be reached; try again when the console is connected.' : result.error.graphQLErrors.map((e) => e.message).join('; ');
        return null;
      }
      const payload = result.data ? (Object.values(result.data as object)[0] as Payload<D>) : null;
      const message = errorMessage(payload);
      if (message !== null) {
        this.error = message;
        return null;
      }
      return payload as Success<D>;
    } finally {
      this.pending = false;
    }
  }
}
