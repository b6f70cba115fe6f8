import { credentialKey, type Credential } from '../domain/auth.ts';
import { NotAuthorizedError } from '../domain/errors.ts';
import type { Topic } from '../pubsub.ts';
import type { Quota } from '../quota.ts';
import type { LiveHub, LiveItem, LiveSource, Watch } from './hub.ts';

/** setTimeout's longest delay; a later expiry is checked again when it fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** A stream whose only item says why it was refused. */
function refusedStream<T extends Topic>(failure: NotAuthorizedError): AsyncIterableIterator<LiveItem<T>> {
  let told = false;
  const stream: AsyncIterableIterator<LiveItem<T>> = {
    async next() {
      if (told) return { done: true, value: undefined };
      told = true;
      return { done: false, value: { failure } };
    },
    async return() {
      told = true;
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => stream,
  };
  return stream;
}

/**
 * The hub as one HTTP request's subscriptions see it (server-sent events): each stream ends,
 * its last item a NotAuthorizedError, once the request's credential is revoked in any process
 * (revokeApiToken, signOut, a rotated host token) or expires. graphql-ws closes the whole socket
 * instead (server/websocket.ts). `quota` caps the streams a credential holds open.
 */
export function boundToCredential(hub: LiveHub, credential: Credential | null, quota: Quota): LiveSource {
  if (!credential) return hub;
  const key = credentialKey(credential);
  return {
    watch<T extends Topic>(watch: Watch<T>): AsyncIterableIterator<LiveItem<T>> {
      if (!quota.take(key)) return refusedStream(new NotAuthorizedError(`At most ${quota.limit} subscriptions per credential over server-sent events; end one first`));
      const stream = hub.watch(watch);
      let why: string | null = null;
      let told = false;
      let ended: () => void = () => {};
      const endedNow = new Promise<void>((resolve) => (ended = resolve));
      const end = (reason: string) => {
        why ??= reason;
        ended();
      };
      const stopRevocations = hub.on('credential:revoked', ({ payload }) => {
        if (payload.kind === credential.kind && payload.id === credential.id) end('was revoked');
      });
      let expiry: NodeJS.Timeout | undefined;
      const watchExpiry = () => {
        if (!credential.expiresAt) return;
        const left = credential.expiresAt.getTime() - Date.now();
        if (left <= 0) end('has expired');
        else expiry = setTimeout(watchExpiry, Math.min(left, MAX_DELAY_MS));
      };
      watchExpiry();
      let released = false;
      const release = async () => {
        if (released) return;
        released = true;
        quota.release(key);
        stopRevocations();
        clearTimeout(expiry);
        await stream.return();
      };
      const bound: AsyncIterableIterator<LiveItem<T>> = {
        async next() {
          if (!why) {
            const result = await Promise.race([stream.next(), endedNow.then(() => null)]);
            if (result && !why) {
              if (result.done) await release();
              return result;
            }
          }
          await release();
          if (told) return { done: true, value: undefined };
          told = true;
          return { done: false, value: { failure: new NotAuthorizedError(`The credential this subscription was opened with ${why}; subscribe again with a valid one`) } };
        },
        async return() {
          await release();
          return { done: true, value: undefined };
        },
        [Symbol.asyncIterator]: () => bound,
      };
      return bound;
    },
  };
}
