// The load generator's side of the floor: starts bench/support/floor-server.ts pinned to a
// core and triggers its broadcasts over a control socket, one answer per trigger.
import { join } from 'node:path';
import WebSocket from 'ws';
import type { Change } from './fanout-analysis.ts';
import { onCleanup } from './lifecycle.ts';
import { freePort, startChild, type Child } from './processes.ts';
import { now, sleep } from './stats.ts';

export interface Floor {
  child: Child;
  /** Broadcasts `value` as the deviceChanged event of `change`; resolves on the floor's answer. */
  send(change: Change, value: unknown): Promise<void>;
}

async function openControl(port: number): Promise<WebSocket> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/control`);
    const open = await new Promise<boolean>((resolve) => {
      socket.once('open', () => resolve(true));
      socket.once('error', () => resolve(false));
    });
    if (open) return socket;
    await sleep(100);
  }
  throw new Error('the floor server did not start');
}

export async function startFloor(options: { core: number; logDir: string }): Promise<Floor> {
  const child = startChild({ script: 'bench/support/floor-server.ts', port: await freePort(), core: options.core, env: {}, logFile: join(options.logDir, 'floor.log') });
  onCleanup(() => child.stop('SIGINT'));
  const control = await openControl(child.port);
  onCleanup(async () => control.close());
  const waiting = new Map<number, { change: Change; done: () => void }>();
  control.on('message', (raw) => {
    const answer: { seq: number; at: number } = JSON.parse(String(raw));
    const entry = waiting.get(answer.seq);
    if (!entry) return;
    waiting.delete(answer.seq);
    entry.change.respondedAt = now();
    // The floor has no commit; the moment it took the trigger stands in for it.
    entry.change.committedAt = answer.at;
    entry.done();
  });
  return {
    child,
    send(change, value) {
      change.sentAt = now();
      return new Promise((done) => {
        waiting.set(change.seq, { change, done });
        control.send(JSON.stringify({ seq: change.seq, hostId: change.hostId, value }));
      });
    },
  };
}
