import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { member } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

// A plan may ask for a GPU model no host has ever reported: it is saved, and the result warns,
// so an operator sees it before it silently never fits.

const PLAN_RESULT = graphql(`fragment PlanResult on ServicePlan { id name warnings { code message } }`);
const CREATE = graphql(`mutation($input: CreateServicePlanInput!) { createServicePlan(input: $input) { __typename ...PlanResult ... on Error { message } } }`, [PLAN_RESULT]);
const UPDATE = graphql(`mutation($input: UpdateServicePlanInput!) { updateServicePlan(input: $input) { __typename ...PlanResult ... on Error { message } } }`, [PLAN_RESULT]);
const PLAN_WARNINGS = graphql(`{ servicePlans { name warnings { code } } }`);
const BASE = { provisionType: 'KVM' as const, cores: 8, memoryMb: 32768, diskGb: 100, gpuCount: 1 };

let server: TestServer;
let seed: Seed;

beforeAll(async () => {
  server = await startTestServer();
  seed = new Seed(server.client, server.url);
  // The fleet has reported one GPU model: 10de:2204.
  const cluster = await seed.cluster('models');
  const { agent } = await cluster.host({ name: 'models-1', gpus: 1, gpuModel: ['10de', '2204'] });
  await agent.disconnect();
});
afterAll(() => server.stop());

describe('a plan GPU model no host has reported', () => {
  it('creating a plan with a GPU model no host has reported saves it and warns GPU_MODEL_NOT_REPORTED', async () => {
    const { createServicePlan } = await server.client.data(CREATE, { input: { ...BASE, name: 'h100-plan', gpuVendorId: '10de', gpuProductId: '2330' } });
    expect(createServicePlan).toMatchObject({ __typename: 'ServicePlan', name: 'h100-plan' });
    expect(member(createServicePlan, 'ServicePlan').warnings).toEqual([{ code: 'GPU_MODEL_NOT_REPORTED', message: expect.stringMatching(/No host has reported a GPU 10de:2330/) }]);
    // Saved, and the plans list says the same.
    const { servicePlans } = await server.client.data(PLAN_WARNINGS);
    expect(servicePlans).toContainEqual({ name: 'h100-plan', warnings: [{ code: 'GPU_MODEL_NOT_REPORTED' }] });
  });

  it('a vendor no host has reported warns too', async () => {
    const { createServicePlan } = await server.client.data(CREATE, { input: { ...BASE, name: 'amd-plan', gpuVendorId: '1002' } });
    expect(member(createServicePlan, 'ServicePlan').warnings).toEqual([{ code: 'GPU_MODEL_NOT_REPORTED', message: expect.stringMatching(/No host has reported a GPU of vendor 1002/) }]);
  });

  it('a reported GPU model, or any GPU, gets no warning', async () => {
    for (const gpu of [{ gpuVendorId: '10de', gpuProductId: '2204' }, { gpuVendorId: '10de' }, {}]) {
      const { createServicePlan } = await server.client.data(CREATE, { input: { ...BASE, name: `fine-${Object.values(gpu).join('-') || 'any'}`, ...gpu } });
      expect(createServicePlan).toMatchObject({ __typename: 'ServicePlan', warnings: [] });
    }
  });

  it('editing a plan to a GPU model no host has reported warns, and editing it back clears the warning', async () => {
    const { id: planId } = await seed.plan({ name: 'edited-plan', gpuCount: 1, gpuVendorId: '10de', gpuProductId: '2204' });
    const { updateServicePlan: unknown } = await server.client.data(UPDATE, { input: { planId, gpuProductId: '2331' } });
    expect(member(unknown, 'ServicePlan').warnings).toEqual([{ code: 'GPU_MODEL_NOT_REPORTED', message: expect.stringMatching(/10de:2331/) }]);
    const { updateServicePlan: known } = await server.client.data(UPDATE, { input: { planId, gpuProductId: '2204' } });
    expect(member(known, 'ServicePlan').warnings).toEqual([]);
  });
});
