import { eq } from 'drizzle-orm';
import { isUniqueViolation } from '../db/errors.ts';
import { clusters, hosts } from '../db/schema/index.ts';
import { inTransaction } from '../db/transaction.ts';
import { NotFoundError, ValidationError } from './errors.ts';
import type { Services } from './services.ts';
import { hashSecret, newSecret } from './secrets.ts';
import { hostNameProblem } from '../../protocol/rules.ts';

export type HostRow = typeof hosts.$inferSelect;

function checkName(what: 'Host' | 'Cluster', name: string) {
  const problem = hostNameProblem(name, what);
  if (problem) throw new ValidationError('name', problem);
}

export async function createCluster(services: Services, name: string) {
  checkName('Cluster', name);
  try {
    const [cluster] = await services.db.insert(clusters).values({ name }).returning();
    return cluster!;
  } catch (error) {
    if (isUniqueViolation(error)) throw new ValidationError('name', `A cluster named "${name}" already exists`);
    throw error;
  }
}

/** Registers a host and returns its agent token, which is never shown again. */
export async function enrollHost(services: Services, input: { name: string; clusterId: string }) {
  checkName('Host', input.name);
  const [cluster] = await services.db.select().from(clusters).where(eq(clusters.id, input.clusterId));
  if (!cluster) throw new NotFoundError('Cluster', input.clusterId);
  const token = newSecret('pth_host');
  try {
    const [host] = await services.db
      .insert(hosts)
      .values({ name: input.name, clusterId: cluster.id, tokenHash: hashSecret(token) })
      .returning();
    return { host: host!, token };
  } catch (error) {
    if (isUniqueViolation(error)) throw new ValidationError('name', `A host named "${input.name}" is already enrolled`);
    throw error;
  }
}

/** Issues a new agent token for a host; the old one stops working at once, live connections included. */
export async function rotateHostToken(services: Services, hostId: string) {
  const token = newSecret('pth_host');
  return inTransaction(services.db, async (tx, changes) => {
    const [host] = await tx.update(hosts).set({ tokenHash: hashSecret(token) }).where(eq(hosts.id, hostId)).returning();
    if (!host) throw new NotFoundError('Host', hostId);
    changes.credentialRevoked({ kind: 'host', id: hostId });
    return { host, token };
  });
}
