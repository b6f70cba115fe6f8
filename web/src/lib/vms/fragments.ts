import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';

/**
 * What a VM row shows of its passthrough devices: the first page of them, enough to count those
 * of any ordinary VM. A VM event carries the same, so a row stays true without reading again.
 */
export const VmPassthroughFields = graphql(`
  fragment VmPassthroughFields on VM {
    devices(first: 16) { nodes { id kind } pageInfo { hasNextPage } }
  }
`);

/** GPUs and other devices of a VM; `exact` unless it holds more than its first page shows (then they are lower bounds). */
export function passthroughOf(vm: ResultOf<typeof VmPassthroughFields>): { gpus: number; others: number; exact: boolean } {
  const { nodes, pageInfo } = vm.devices;
  const gpus = nodes.filter((d) => d.kind === 'GPU').length;
  return { gpus, others: nodes.length - gpus, exact: !pageInfo.hasNextPage };
}
