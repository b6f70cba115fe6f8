/** One page of a Relay connection, as every list query of protocol/commands.ts selects it. */
export interface Page<Item> {
  nodes: Item[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** The API's largest page. */
export const PAGE_SIZE = 500;

/** Up to `limit` items, a page at a time (smaller pages for items with lists of their own, which the server costs); `more` says whether the list went on. */
export async function collectPages<Item>(
  limit: number,
  page: (first: number, after: string | null) => Promise<Page<Item>>,
  pageSize = PAGE_SIZE,
): Promise<{ items: Item[]; more: boolean }> {
  const items: Item[] = [];
  let after: string | null = null;
  for (;;) {
    const { nodes, pageInfo } = await page(Math.min(pageSize, limit - items.length), after);
    items.push(...nodes);
    if (!pageInfo.hasNextPage || !pageInfo.endCursor) return { items, more: false };
    if (items.length >= limit) return { items, more: true };
    after = pageInfo.endCursor;
  }
}

/** Pages through a list until an item matches (the API has no lookup by name). */
export async function findInPages<Item>(page: (first: number, after: string | null) => Promise<Page<Item>>, matches: (item: Item) => boolean): Promise<Item | null> {
  let after: string | null = null;
  for (;;) {
    const { nodes, pageInfo } = await page(PAGE_SIZE, after);
    const found = nodes.find(matches);
    if (found) return found;
    if (!pageInfo.hasNextPage || !pageInfo.endCursor) return null;
    after = pageInfo.endCursor;
  }
}
