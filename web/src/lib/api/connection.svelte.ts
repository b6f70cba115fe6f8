/** What the header badge shows about the realtime link to the server. */
export type LinkState = 'connecting' | 'connected' | 'reconnecting';

/**
 * State of the graphql-ws connection. `generation` goes up every time the link comes back
 * after a loss, so live queries refetch whatever they may have missed while it was down.
 */
export class Connection {
  state = $state<LinkState>('connecting');
  generation = $state(0);
  /** When the link was lost, for "reconnecting for 12 s". */
  lostAt = $state<number | null>(null);
  attempts = $state(0);
  #everConnected = false;

  connecting() {
    if (this.#everConnected && this.state !== 'reconnecting') this.lost();
    this.attempts += 1;
  }

  connected() {
    const wasLost = this.#everConnected;
    this.#everConnected = true;
    this.state = 'connected';
    this.lostAt = null;
    this.attempts = 0;
    if (wasLost) this.generation += 1;
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
