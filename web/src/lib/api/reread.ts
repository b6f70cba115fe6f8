// The pages' lists, for the rare case where the realtime link has lost changes for good (the
// server could not resume a subscription): each live query registers how to read itself again.

const readers = new Set<() => void>();
let scheduled = false;

/** Registers a list to read again on `rereadLists()`; returns the function that unregisters it. */
export function onReread(reader: () => void): () => void {
  readers.add(reader);
  return () => readers.delete(reader);
}

/**
 * Every live query reads its data from the server once. The console's subscriptions usually all
 * fail to resume together (one long outage), each in its own message: calls close together cost
 * one re-read.
 */
export function rereadLists() {
  if (scheduled) return;
  scheduled = true;
  setTimeout(() => {
    scheduled = false;
    for (const reader of readers) reader();
  }, 50);
}
