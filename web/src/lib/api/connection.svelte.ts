/** What the header badge shows about the realtime link to the server. */
export type LinkState = 'connecting' | 'connected' | 'reconnecting';

/**
 * State of the graphql-ws connection. Nothing refetches when it comes back: the subscriptions
 * resume from their last cursor and the server replays what they missed.
 */
export class Connection {
  state = $state<LinkState>('connecting');
  /** When the link was lost, for "reconnecting for 12 s". */
  lostAt = $state<number | null>(null);
  attempts = $state(0);
  #everConnected = false;

  connecting() {
    if (this.#everConnected && this.state !== 'reconnecting') this.lost();
    this.attempts += 1;
  }

  connected() {
    this.#everConnected = true;
    this.state = 'connected';
    this.lostAt = null;
    this.attempts = 0;
  }

  /** A new socket for a new session: no "reconnecting" until it has connected once. */
  reset() {
    this.#everConnected = false;
    this.state = 'connecting';
    this.lostAt = null;
    this.attempts = 0;
  }

  lost() {
    if (this.state === 'reconnecting') return;
    this.state = this.#everConnected ? 'reconnecting' : 'connecting';
    this.lostAt = Date.now();
  }
}

export const connection = new Connection();
