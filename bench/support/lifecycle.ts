// A bench stops by itself: cleanups (child processes, sockets, the database) run in reverse
// order at the end, after a crash, or when the time limit is reached.

const cleanups: (() => Promise<unknown>)[] = [];

export function onCleanup(step: () => Promise<unknown>) {
  cleanups.push(step);
}

export async function cleanup() {
  for (const step of cleanups.splice(0).reverse()) await step().catch((error: Error) => console.error(`cleanup: ${error.message}`));
}

/** Runs the cleanups and exits if the bench crashes or outlives `limitMs`; returns a stop for the timer. */
export function bounded(name: string, limitMs: number): () => void {
  const fail = (error: unknown) => {
    console.error(`${name}: crashed:`, error);
    void cleanup().finally(() => process.exit(1));
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  const timer = setTimeout(() => {
    console.error(`${name}: still running after ${Math.round(limitMs / 1000)} s; stopping`);
    void cleanup().finally(() => process.exit(2));
  }, limitMs);
  return () => clearTimeout(timer);
}
